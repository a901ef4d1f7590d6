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
    cells = [[printable(str(cell)) for cell in row] for row in [summary["columns"]] + summary["rows"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(summary["columns"]))]
    widths[0] = max(widths[0], 10)
    lines = [title]
    lines += ["  " + row[0].ljust(widths[0]) + "".join(cell.rjust(width + 2) for cell, width in zip(row[1:], widths[1:]))
              for row in cells]
    return lines + [f"  ({printable(summary['note'])})"]
