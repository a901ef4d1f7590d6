"""Charts of the analysis views: numbers in, files out.

matplotlib's object API on the Agg canvas (never pyplot, never a window), with fixed margins, so
charts render the same in threads, tests and headless servers. Each view
becomes ``OUT/VIEW-SUBSET.svg`` (text as text, title in its metadata), with ``png`` also
``.png`` (drawing it again costs as much as the SVG), and ``.json`` (the numbers), each written
to a temporary file and renamed.
matplotlib is imported on first use: it takes most of a second.
"""
import datetime
import json
import pathlib
from typing import Any, Dict

from ..atomic import atomic_write as _atomic
from .views import period_start

WIDTH = {"week": 6, "month": 27, "year": 330}  # a period's bar, in days


def _figure(height: float = 4.8, left: float = 0.08, right: float = 0.92):
    """A 10-inch-wide figure with fixed margins (a layout engine would lay it out again at every save)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left, right=right, top=1 - 0.55 / height, bottom=0.6 / height)
    return fig


def _date_axis(ax, period: str) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(period)


def _dates(numbers: Dict[str, Any]) -> list:
    return [period_start(key) for key in numbers["periods"]]


def _next_start(day: datetime.date, period: str) -> datetime.date:
    if period == "week":
        return day + datetime.timedelta(days=7)
    return datetime.date(day.year + 1, 1, 1) if period == "year" else datetime.date(
        day.year + day.month // 12, day.month % 12 + 1, 1)


def time_chart(numbers: Dict[str, Any]):
    """Per-period bars (or lines) with the running total or open items on a second axis."""
    fig = _figure()
    ax = fig.add_subplot()
    dates = _dates(numbers)
    period = numbers["period"]
    if numbers["view"] == "created-vs-closed":
        ax.plot(dates, numbers["created"], label="created", color="tab:blue")
        ax.plot(dates, numbers["closed"], label="closed", color="tab:green")
        second, second_label = numbers["open"], "open at end of period"
    else:
        if dates:  # one filled step path, not a patch per period
            ax.stairs(numbers[numbers["view"]], dates + [_next_start(dates[-1], period)],
                      fill=True, label=f"{numbers['view']} per {period}", color="tab:blue")
        second, second_label = numbers["cumulative"], "running total"
    ax.set_ylabel(f"items per {period}")
    _date_axis(ax, period)
    twin = ax.twinx()
    twin.plot(dates, second, color="tab:red", label=second_label)
    twin.set_ylabel(second_label)
    twin.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left")
    return fig


def time_to_close_chart(numbers: Dict[str, Any]):
    """Median (solid) and 90th percentile (dashed) days to close, PRs and issues, on a log scale."""
    import matplotlib.ticker as ticker
    import numpy

    fig = _figure()
    ax = fig.add_subplot()
    dates = _dates(numbers)
    for kind, label, color in (("pull_requests", "PRs", "tab:blue"), ("issues", "issues", "tab:orange")):
        for name, style in (("median", "-"), ("p90", "--")):
            ax.plot(dates, numpy.asarray(numbers[kind][name], dtype=float), style,
                    color=color, marker=".", label=f"{label}, {'median' if name == 'median' else '90th percentile'}")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda days, _: f"{days:g}"))  # plain text: mathtext is slow
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel(f"days to close (items closed in the {numbers['period']})")
    _date_axis(ax, numbers["period"])
    ax.legend(loc="upper left")
    return fig


def sig_backlog_chart(numbers: Dict[str, Any]):
    """The open items of each shown sig/ label, stacked, largest at the bottom."""
    import matplotlib

    fig = _figure(height=5.6, right=0.8 - 0.13 * (len(numbers["sigs"]) // 18))
    ax = fig.add_subplot()
    sigs = numbers["sigs"]
    if sigs:
        colors = [matplotlib.colormaps["tab20"](i % 20) for i in range(len(sigs))]
        areas = ax.stackplot(_dates(numbers), list(sigs.values()), labels=list(sigs), colors=colors)
        ax.legend(handles=areas[::-1], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7,
                  ncol=1 + len(sigs) // 18, frameon=False)  # in the stack's order, top first
    ax.set_ylabel("open items (stacked; an item counts under each of its sig/ labels)")
    _date_axis(ax, numbers["period"])
    return fig


def candlestick_chart(numbers: Dict[str, Any]):
    """One candle per period: the wick spans low to high, the body open to close (red: rose, green: fell)."""
    from matplotlib.patches import Patch

    fig = _figure()
    ax = fig.add_subplot()
    dates = _dates(numbers)
    colors = ["tab:red" if c > o else "tab:green" if c < o else "tab:gray"
              for o, c in zip(numbers["open"], numbers["close"])]
    ax.vlines(dates, numbers["low"], numbers["high"], colors=colors, linewidth=1)
    body = max(1.0, 0.8 * 72 * 10 * 0.84 / max(len(dates), 1))  # points: 80% of a period of the axes' width
    ax.vlines(dates, [min(o, c) for o, c in zip(numbers["open"], numbers["close"])],  # one collection of bodies
              [max(o, c) + 0.01 for o, c in zip(numbers["open"], numbers["close"])], colors=colors, linewidth=body)
    ax.set_ylabel("open items")
    _date_axis(ax, numbers["period"])
    ax.legend(handles=[Patch(color="tab:red", label="open count rose"), Patch(color="tab:green", label="fell"),
                       Patch(color="tab:gray", label="unchanged")], loc="upper left")
    return fig


CHARTS = {"created": time_chart, "closed": time_chart, "created-vs-closed": time_chart,
          "time-to-close": time_to_close_chart, "sig-backlog": sig_backlog_chart, "open-candlestick": candlestick_chart}


def bar_chart(numbers: Dict[str, Any]):
    """Horizontal bars, largest on top, full label names, values at the bar ends."""
    entries = numbers["top"]
    longest = max((len(str(name)) for name, _ in entries), default=0)
    fig = _figure(height=max(3.0, 0.8 + 0.28 * len(entries)), left=min(0.6, 0.06 + 0.0055 * longest), right=0.97)
    ax = fig.add_subplot()
    names = [name for name, _ in reversed(entries)]
    values = [value for _, value in reversed(entries)]
    bars = ax.barh(names, values, color="tab:blue")
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.set_xlabel({"users-by-created": "items created", "users-by-closed": "items closed"}.get(
        numbers["view"], "items labelled"))
    ax.set_ylabel({"labels-by-group": "label group"}.get(numbers["view"], "user" if "users" in numbers["view"]
                                                          else "label"))
    ax.tick_params(axis="y", labelsize=8)
    ax.margins(x=0.1)
    return fig


def render(numbers: Dict[str, Any], out: str, png: bool = False) -> Dict[str, str]:
    """Write a view's SVG chart (and PNG, with ``png``) and JSON numbers; return their paths."""
    import matplotlib

    directory = pathlib.Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{numbers['view']}-{numbers['subset'].replace('_', '-')}"
    fig = CHARTS.get(numbers["view"], bar_chart)(numbers)
    fig.suptitle(numbers["title"])
    if not (numbers.get("periods") or numbers.get("top")):
        fig.text(0.5, 0.5, "no data", ha="center")
    paths = {kind: directory / f"{stem}.{kind}" for kind in ("svg", "png", "json") if png or kind != "png"}
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": stem}):  # text stays text
        _atomic(paths["svg"], lambda tmp: fig.savefig(tmp, format="svg", metadata={"Title": numbers["title"]}))
    if png:
        _atomic(paths["png"], lambda tmp: fig.savefig(tmp, format="png", dpi=100, metadata={"Title": numbers["title"]}))
    _atomic(paths["json"], lambda tmp: tmp.write_text(json.dumps(numbers, indent=1) + "\n"))
    return {kind: str(path) for kind, path in paths.items()}
