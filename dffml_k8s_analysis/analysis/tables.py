"""A view's numbers as a short table: columns, rows and a note, for the terminal and the HTML report.

One function per shape of numbers (``analysis.views`` says which a view uses). Time series show
their last ``TIME_ROWS`` periods; the JSON beside the chart has them all.
"""
from typing import Any, Callable, Dict, List, Tuple

from .text import printable

TIME_ROWS = 12
TIME_SERIES = ("created", "closed", "open", "high", "low", "close")


def _last(numbers: Dict[str, Any]) -> range:
    return range(max(0, len(numbers["periods"]) - TIME_ROWS), len(numbers["periods"]))


def _shown(numbers: Dict[str, Any]) -> str:
    return f"{len(numbers['periods'])} {numbers['period']}s, last {min(TIME_ROWS, len(numbers['periods']))} shown"


def _days(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def time_to_close(numbers: Dict[str, Any]) -> Dict[str, Any]:
    kinds = (("pull_requests", "PRs"), ("issues", "issues"))
    columns = [numbers["period"]] + [f"{label} {what}" for _, label in kinds for what in ("closed", "median", "p90")]
    rows = [[numbers["periods"][i]] + [cell for kind, _ in kinds for cell in (
        numbers[kind]["closed"][i], _days(numbers[kind]["median"][i]), _days(numbers[kind]["p90"][i]))]
        for i in _last(numbers)]
    overall = "; ".join(f"{numbers[kind]['closed_total']} {label}: median {_days(numbers[kind]['median_total'])}, "
                        f"p90 {_days(numbers[kind]['p90_total'])}" for kind, label in kinds)
    return {"columns": columns, "rows": rows, "note": f"days; {_shown(numbers)}; in all {overall}"}


def _quantile_cells(figures: Dict[str, Any], count: str, i: int) -> list:
    return [figures[count][i], _days(figures["median"][i]), _days(figures["p90"][i])]


def first_response(numbers: Dict[str, Any]) -> Dict[str, Any]:
    kinds = (("pull_requests", "PRs"), ("issues", "issues"))
    columns = [numbers["period"]] + [f"{label} {what}" for _, label in kinds
                                     for what in ("answered", "median", "p90", "never")]
    rows = [[numbers["periods"][i]] + [cell for kind, _ in kinds for cell in (
        _quantile_cells(numbers[kind], "answered", i) + [numbers[kind]["unanswered"][i]])] for i in _last(numbers)]
    overall = "; ".join(f"{numbers[kind]['answered_total']} {label} answered: median "
                        f"{_days(numbers[kind]['median_total'])}, p90 {_days(numbers[kind]['p90_total'])}, "
                        f"{numbers[kind]['unanswered_total']} never" for kind, label in kinds)
    return {"columns": columns, "rows": rows, "note": f"days from creation, author and bots left out; {_shown(numbers)}; "
            f"in all {overall}; {numbers['not_walked']} items not walked yet left out"}


def review_latency(numbers: Dict[str, Any]) -> Dict[str, Any]:
    columns = [numbers["period"], "reviewed", "median", "p90", "never reviewed", "merged after", "median", "p90"]
    rows = [[numbers["periods"][i]] + _quantile_cells(numbers["to_first_review"], "counted", i)
            + [numbers["unreviewed"][i]] + _quantile_cells(numbers["to_merge"], "counted", i) for i in _last(numbers)]
    review, merge = numbers["to_first_review"], numbers["to_merge"]
    return {"columns": columns, "rows": rows, "note": (
        f"days, PRs by the period they were created in: created to first review, then first review to merge; "
        f"{_shown(numbers)}; in all {review['counted_total']} reviewed (median {_days(review['median_total'])}), "
        f"{numbers['unreviewed_total']} never, {merge['counted_total']} merged (median {_days(merge['median_total'])})")}


def _percent(share) -> str:
    return "-" if share is None else f"{share:.0%}"


def label_provenance(numbers: Dict[str, Any]) -> Dict[str, Any]:
    rows = [[f"{group}/", figures["applied_total"]] + [_percent(figures["share_total"][kind]) for kind in numbers["kinds"]]
            for group, figures in numbers["groups"].items()]
    return {"columns": ["label group", "applied"] + [f"by {kind}" for kind in numbers["kinds"]], "rows": rows,
            "note": f"{numbers['applied']} labels applied on {numbers['items']} items over {len(numbers['periods'])} "
                    f"{numbers['period']}s (the JSON has each); ghost: a deleted account"}


def time_in_label(numbers: Dict[str, Any]) -> Dict[str, Any]:
    rows = [[label, stays, still, _days(median), _days(p90)] for label, stays, still, median, p90 in numbers["labels"]]
    return {"columns": ["label", "stays", "still on", "median", "p90"], "rows": rows,
            "note": f"days in labels matching {numbers['matching']}: {numbers['stays']} stays on {numbers['distinct']} "
                    "labels; one still on counts to its close or to the store's newest creation or close"}


def new_contributors(numbers: Dict[str, Any]) -> Dict[str, Any]:
    rows = [[numbers["periods"][i], numbers["new"][i], numbers["returned"][i], numbers["pending"][i]]
            for i in _last(numbers)]
    return {"columns": [numbers["period"], "first-time authors", f"back within {numbers['days']} days", "too soon to tell"],
            "rows": rows, "note": f"{_shown(numbers)}; {numbers['authors']} authors in all, "
                                  f"{numbers['returned_total']} came back, {numbers['pending_total']} too soon to tell"}


def absence_factor(numbers: Dict[str, Any]) -> Dict[str, Any]:
    rows = [[numbers["periods"][i], numbers["merged"][i], numbers["authors"][i],
             "-" if numbers["factor"][i] is None else numbers["factor"][i]] for i in _last(numbers)]
    return {"columns": [numbers["period"], "merged PRs", "authors", "absence factor"], "rows": rows,
            "note": f"the fewest authors who made half of the period's merged PRs; {_shown(numbers)}; "
                    f"{numbers['items']} merged PRs ({numbers['walked']} merges from the timeline), "
                    f"{numbers['unknown']} without a counted author"}


def missing(numbers: Dict[str, Any]) -> Dict[str, Any]:
    return {"columns": [], "rows": [], "note": numbers["missing"]}


def sig_backlog(numbers: Dict[str, Any]) -> Dict[str, Any]:
    rows = []
    for name, backlog in numbers["sigs"].items():
        peak = max(backlog)
        rows.append([name, backlog[-1], peak, numbers["periods"][backlog.index(peak)]])
    return {"columns": ["sig label", "open now", "peak", "peak in"], "rows": rows,
            "note": f"{numbers['distinct']} sig/ labels on {numbers['items']} items; labels as they are now"}


def series(numbers: Dict[str, Any]) -> Dict[str, Any]:
    series = [name for name in TIME_SERIES if name in numbers]
    rows = [[numbers["periods"][i]] + [numbers[name][i] for name in series] for i in _last(numbers)]
    totals = ", ".join(f"{numbers[name + '_total']} {name}" for name in ("created", "closed") if name + "_total" in numbers)
    return {"columns": [numbers["period"]] + series, "rows": rows,
            "note": _shown(numbers) + (f"; {totals} in all" if totals else f"; {numbers['items']} items")}


def ranking(numbers: Dict[str, Any], columns: Tuple[str, str] = ("label", "uses"),
            note: Callable[[Dict[str, Any]], str] = lambda numbers: "") -> Dict[str, Any]:
    """A top-N view's entries under ``columns``; ``note`` adds to the counts' summary."""
    summary = f"{numbers['distinct']} distinct, {numbers['total']} counted over {numbers['items']} items"
    return {"columns": list(columns), "rows": numbers["top"], "note": summary + note(numbers)}


def unknown_closers(numbers: Dict[str, Any]) -> str:
    return f"; {numbers['unknown']} closed items have no known closer"


def release_notes(numbers: Dict[str, Any]) -> str:
    return f" with a release note of {numbers['pull_requests']} PRs; {numbers['without_kind']} without kind/"


def text(title: str, summary: Dict[str, Any]) -> List[str]:
    """A view's table as lines for a terminal: the title, a header, the rows, the note."""
    if not summary["columns"]:  # a view without its data: the note says what to run
        return [title, f"  ({printable(summary['note'])})"]
    cells = [[printable(str(cell)) for cell in row] for row in [summary["columns"]] + summary["rows"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(summary["columns"]))]
    widths[0] = max(widths[0], 10)
    lines = [title]
    lines += ["  " + row[0].ljust(widths[0]) + "".join(cell.rjust(width + 2) for cell, width in zip(row[1:], widths[1:]))
              for row in cells]
    return lines + [f"  ({printable(summary['note'])})"]
