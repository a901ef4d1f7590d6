"""Charts of the analysis views: numbers in, files out.

matplotlib's object API on the Agg canvas (never pyplot, never a window), with fixed margins, so
charts render the same in threads, tests and headless servers. Each view becomes
``OUT/VIEW-SUBSET.svg`` (text as text, title in its metadata, scaling with the page), with
``png`` also ``.png``, and ``.json`` (the numbers), each written to a temporary file and renamed.

Made to be read on a phone as on a screen: 6 inches wide with 12 pt text, legends above the data,
light gridlines (a second axis's ticks fall on the first's), the Okabe-Ito palette (told apart by
colour-blind readers), the last period's count marked as so far, not drawn as a drop. Text from
the data is plain text: never mathtext (a label ``$x$``), never a control character.
matplotlib is imported on first use: it takes most of a second.
"""
import datetime
import io
import json
import math
import pathlib
import re
from typing import Any, Callable, Dict, List

from ..atomic import atomic_write as _atomic
from .numbers import period_start
from .text import printable

# Okabe & Ito (2008), "Color universal design": blue, orange, bluish green, reddish purple, sky blue,
# vermillion, yellow, black
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER = "#BBBBBB"
WIDTH = 6.0  # inches: 12 pt text reads at 10 px on a 390 px phone, at 18 px in the report's 670 px column
STYLE = {
    "font.size": 12, "axes.labelsize": 12, "xtick.labelsize": 11.5, "ytick.labelsize": 11.5, "legend.fontsize": 11.5,
    "axes.prop_cycle": f"cycler(color={list(PALETTE)})", "axes.axisbelow": True,
    "axes.spines.top": False, "grid.color": "#E3E3E3", "grid.linewidth": 0.7,
    "text.parse_math": False, "text.usetex": False,  # a label such as "$$" is text, not a formula
    "svg.fonttype": "none",  # text stays text
}
ROLLING = {"week": 13, "month": 6, "year": 1}  # periods in a rolling median where one period is noise
CANDLES = 48  # at most this many candles: more periods are merged into longer ones
MERGES = {"week": (1, 2, 4, 13, 26, 52), "month": (1, 3, 6, 12), "year": (1, 2, 5, 10)}
MERGED = {("month", 3): "quarter", ("month", 6): "half year", ("month", 12): "year", ("week", 52): "52 weeks"}

Figure = Any


def _figure(height: float, top: float = 0.45, left: float = 0.75, right: float = 0.2, bottom: float = 0.45) -> Figure:
    """A ``WIDTH``-inch figure with fixed margins in inches (a layout engine would lay it out again at every save)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MatplotlibFigure

    fig = MatplotlibFigure(figsize=(WIDTH, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / WIDTH, right=1 - right / WIDTH, top=1 - top / height, bottom=bottom / height)
    return fig


def _legend_above(ax, handles: List[Any], columns: int = 2) -> None:
    """The legend in the top margin, outside the data (``_figure``'s ``top`` leaves it 0.25 inch a row)."""
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=columns, frameon=False,
              borderaxespad=0, handlelength=1.6, columnspacing=1.2)


def _top_for(entries: int, columns: int = 2) -> float:
    return 0.2 + 0.25 * math.ceil(entries / columns)


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, axis="both")


def _dates(numbers: Dict[str, Any]) -> list:
    return [period_start(key) for key in numbers["periods"]]


def _next_start(day: datetime.date, period: str) -> datetime.date:
    if period == "week":
        return day + datetime.timedelta(days=7)
    return datetime.date(day.year + 1, 1, 1) if period == "year" else datetime.date(
        day.year + day.month // 12, day.month % 12 + 1, 1)


def _nice_step(maximum: float, intervals: int) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that covers ``maximum`` in ``intervals`` steps."""
    rough = max(maximum, 1) / intervals
    power = 10 ** math.floor(math.log10(rough))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= rough)


def _shared_grid(ax, twin, first: float, second: float, intervals: int = 4) -> None:
    """Both y axes from 0 in the same number of nice steps: the second's ticks fall on the first's gridlines."""
    for axis, maximum in ((ax, first), (twin, second)):
        step = _nice_step(maximum, intervals)
        axis.set_ylim(0, step * intervals)
        axis.set_yticks([step * i for i in range(intervals + 1)])
    twin.grid(False)
    twin.spines["top"].set_visible(False)


def _steps(ax, edges: list, bottom: list, top: list, **style) -> None:
    """Each period's band from ``bottom`` to ``top`` as one filled path, not a patch per period (``stairs``
    without its per-segment data limits, which cost more than the drawing)."""
    if len(edges) > 1:
        ax.fill_between(edges, list(bottom) + list(bottom[-1:]), list(top) + list(top[-1:]), step="post",
                        linewidth=0, **style)


def _so_far(numbers: Dict[str, Any]) -> str:
    return f"{numbers['periods'][-1]}: so far"


def counts_chart(numbers: Dict[str, Any], series: str) -> Figure:
    """Items per period as bars (the last period's, counted so far, hatched) with the running total on a second axis."""
    from matplotlib.patches import Patch

    period, dates, values = numbers["period"], _dates(numbers), numbers[series]
    fig = _figure(4.0, top=_top_for(3), right=0.75)
    ax = fig.add_subplot()
    handles = []
    if dates:
        edges = dates + [_next_start(dates[-1], period)]
        _steps(ax, edges[:-1], [0] * (len(values) - 1), values[:-1], color=PALETTE[0])
        ax.stairs(values[-1:], edges[-2:], fill=True, facecolor="white", edgecolor=PALETTE[0], hatch="////",
                  linewidth=0.8)
        handles = [Patch(color=PALETTE[0], label=f"{series} per {period}"),
                   Patch(facecolor="white", edgecolor=PALETTE[0], hatch="////", label=_so_far(numbers))]
    ax.set_ylabel(f"items per {period}")
    _date_axis(ax)
    twin = ax.twinx()
    handles += twin.plot(dates, numbers["cumulative"], color=PALETTE[5], linewidth=2, label="running total")
    twin.set_ylabel("running total")
    _shared_grid(ax, twin, max(values, default=0), max(numbers["cumulative"], default=0))
    _legend_above(ax, handles)
    return fig


def _with_partial_last(ax, dates: list, values: list, **style) -> list:
    """A line over the full periods, dotted into the last one (counted so far) to a hollow marker."""
    line = ax.plot(dates[:-1], values[:-1], **style)
    ax.plot(dates[-2:], values[-2:], linestyle=":", color=line[0].get_color(), linewidth=style.get("linewidth"))
    ax.plot(dates[-1:], values[-1:], marker="o", markerfacecolor="white", color=line[0].get_color())
    return line


def created_vs_closed_chart(numbers: Dict[str, Any]) -> Figure:
    """Created and closed per period (dotted into the last, counted so far) and the open items on a second axis."""
    from matplotlib.lines import Line2D

    dates = _dates(numbers)
    fig = _figure(4.0, top=_top_for(4), right=0.75)
    ax = fig.add_subplot()
    handles = []
    for name, color in (("created", PALETTE[0]), ("closed", PALETTE[1])):
        handles += _with_partial_last(ax, dates, numbers[name], color=color, linewidth=1.4, label=name)
    ax.set_ylabel(f"items per {numbers['period']}")
    _date_axis(ax)
    twin = ax.twinx()
    handles += twin.plot(dates, numbers["open"], color=PALETTE[7], linewidth=2, label="open at the end")
    handles.append(Line2D([], [], color="gray", linestyle=":", marker="o", markerfacecolor="white",
                          label=_so_far(numbers) if dates else "no periods"))
    twin.set_ylabel("open at the end of the period")
    _shared_grid(ax, twin, max(numbers["created"] + numbers["closed"], default=0), max(numbers["open"], default=0))
    _legend_above(ax, handles)
    return fig


def _rolling_median(values: list, window: int):
    """The median of each ``window`` periods around each (centred), of those that have a value."""
    import numpy

    padded = numpy.pad(numpy.asarray(values, dtype=float), window // 2, constant_values=numpy.nan)
    windows = numpy.lib.stride_tricks.sliding_window_view(padded, window)[:len(values)]
    counted = (~numpy.isnan(windows)).sum(axis=1)
    with numpy.errstate(all="ignore"):
        middle = numpy.sort(windows, axis=1)  # NaN sort last
        low, high = (counted - 1) // 2, counted // 2
        rows = numpy.arange(len(values))
        return numpy.where(counted > 0, (middle[rows, low.clip(0)] + middle[rows, high.clip(0)]) / 2, numpy.nan)


def time_to_close_chart(numbers: Dict[str, Any],
                        panels: tuple = (("pull_requests", "PRs"), ("issues", "issues"))) -> Figure:
    """Days, one panel per ``panels`` entry (numbers' key, label) on a shared log scale: each period's median and
    90th percentile as dots, their rolling median as lines where one period is noise; the last period (so far)
    left out of the lines; a panel's items never answered (``unanswered_total``) written in its corner."""
    import matplotlib.ticker as ticker
    import numpy
    from matplotlib.lines import Line2D

    period, dates = numbers["period"], _dates(numbers)
    window = ROLLING[period] if len(dates) > 3 * ROLLING[period] else 1
    fig = _figure(5.6, top=_top_for(3, 1), bottom=0.45)
    axes = fig.subplots(len(panels), 1, sharex=True, sharey=True)
    fig.subplots_adjust(hspace=0.25)
    for ax, (kind, label) in zip(axes, panels):
        for name, color in (("median", PALETTE[0]), ("p90", PALETTE[5])):
            values = numpy.asarray(numbers[kind][name], dtype=float)
            ax.plot(dates, values, ".", color=color, alpha=0.45, markersize=5)
            if len(values) > 1:
                ax.plot(dates[:-1], _rolling_median(values[:-1], window), color=color, linewidth=2)
        if "unanswered_total" in numbers[kind]:
            ax.text(0.99, 0.97, f"never answered: {numbers[kind]['unanswered_total']}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=11.5, color="#59636e")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda days, _: f"{days:g}"))  # plain text
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_ylabel(f"days, {label}")
        _date_axis(ax)
    smoothing = f"line: {window}-{period} rolling median" if window > 1 else "line"
    _legend_above(axes[0], [
        Line2D([], [], color=PALETTE[0], marker=".", linewidth=2, label=f"median ({smoothing})"),
        Line2D([], [], color=PALETTE[5], marker=".", linewidth=2, label="90th percentile"),
        Line2D([], [], color="gray", marker=".", linestyle="", alpha=0.6, label=f"dots: each {period} alone")],
        columns=1)
    return fig


def provenance_chart(numbers: Dict[str, Any]) -> Figure:
    """One panel per label group: the share of its labels applied by the author, other people, bots and deleted
    accounts in each period, as stacked bars to 1 (no bar where none was applied: a gap, never a drop)."""
    from matplotlib.patches import Patch

    dates, kinds, period = _dates(numbers), numbers["kinds"], numbers["period"]
    fig = _figure(6.4, top=_top_for(len(kinds), len(kinds)), bottom=0.45)
    axes = fig.subplots(len(numbers["groups"]), 1, sharex=True, sharey=True)
    fig.subplots_adjust(hspace=0.3)
    colors = (PALETTE[1], PALETTE[0], PALETTE[2], OTHER)
    edges = dates + [_next_start(dates[-1], period)] if dates else []
    for ax, (group, figures) in zip(axes, numbers["groups"].items()):
        bottom = [0.0] * len(dates)
        for kind, color in zip(kinds, colors):  # one filled path per kind, not a bar per period
            top = [low + (share or 0.0) for low, share in zip(bottom, figures["share"][kind])]
            if dates:
                _steps(ax, edges, bottom, top, color=color)
            bottom = top
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{group}/ share")
        _date_axis(ax)
    _legend_above(axes[0], [Patch(color=color, label=kind) for kind, color in zip(kinds, colors)],
                  columns=len(kinds))
    return fig


def period_lines_chart(numbers: Dict[str, Any], series: tuple, ylabel: str) -> Figure:
    """Each of ``series`` (numbers' key, label) per period as a line, dotted into the last period (so far)."""
    from matplotlib.lines import Line2D

    dates = _dates(numbers)
    fig = _figure(4.0, top=_top_for(len(series) + 1))
    ax = fig.add_subplot()
    handles = []
    if dates:
        for (key, label), color in zip(series, PALETTE):
            values = [float("nan") if value is None else value for value in numbers[key]]
            handles += _with_partial_last(ax, dates, values, color=color, linewidth=1.6, label=label)
        handles.append(Line2D([], [], color="gray", linestyle=":", marker="o", markerfacecolor="white",
                              label=_so_far(numbers)))
        _legend_above(ax, handles)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    _date_axis(ax)
    return fig


def sig_backlog_chart(numbers: Dict[str, Any], shown: int = 7) -> Figure:
    """The open items of the ``shown`` largest sig/ labels stacked, largest at the bottom, the rest as one band."""
    import numpy

    sigs = numbers["sigs"]
    names = list(sigs)[:shown]
    rest = len(sigs) - len(names)
    fig = _figure(4.8, top=_top_for(len(names) + bool(rest)))
    ax = fig.add_subplot()
    if sigs:
        series = [sigs[name] for name in names]
        labels = [printable(name) for name in names]
        colors = list(PALETTE[:len(names)])
        if rest:
            series.append(numpy.sum([sigs[name] for name in list(sigs)[shown:]], axis=0))
            labels.append(f"{rest} more sig/ labels (see the table)")
            colors.append(OTHER)
        areas = ax.stackplot(_dates(numbers), series, labels=labels, colors=colors, linewidth=0)
        _legend_above(ax, areas)
    ax.set_ylabel("open items, stacked")
    _date_axis(ax)
    return fig


def _merged(numbers: Dict[str, Any]) -> tuple:
    """The candles merged ``k`` periods to one (aligned on the calendar) so that at most ``CANDLES`` remain:
    their first day, open, high, low, close, and ``k``."""
    period, dates = numbers["period"], _dates(numbers)
    merge = next((k for k in MERGES[period] if math.ceil(len(dates) / k) <= CANDLES), MERGES[period][-1])
    ordinal = {"week": lambda day: day.toordinal() // 7, "month": lambda day: day.year * 12 + day.month - 1,
               "year": lambda day: day.year}[period]
    candles: Dict[int, list] = {}
    for day, o, h, low, c in zip(dates, numbers["open"], numbers["high"], numbers["low"], numbers["close"]):
        candle = candles.setdefault(ordinal(day) // merge, [day, o, h, low, c])
        candle[2], candle[3], candle[4] = max(candle[2], h), min(candle[3], low), c
    return list(candles.values()), merge


def candlestick_chart(numbers: Dict[str, Any]) -> Figure:
    """One candle per period (or per several, when there are many): the wick spans low to high, the body open
    to close, filled vermillion when the open count rose, hollow blue when it fell."""
    from matplotlib.patches import Patch

    period = numbers["period"]
    candles, merge = _merged(numbers)
    fig = _figure(4.0, top=_top_for(3, 3))
    ax = fig.add_subplot()
    if candles:
        days = (_next_start(candles[0][0], period) - candles[0][0]).days * merge
        middles = [day + datetime.timedelta(days=days / 2) for day, *_ in candles]
        rose = [c > o for _, o, _, _, c in candles]
        fell = [c < o for _, o, _, _, c in candles]
        colors = [PALETTE[5] if up else PALETTE[0] if down else "gray" for up, down in zip(rose, fell)]
        ax.vlines(middles, [low for *_, low, _ in candles], [high for _, _, high, *_ in candles], colors=colors,
                  linewidth=1.2)
        ax.bar(middles, [max(abs(c - o), 0.5) for _, o, _, _, c in candles],
               bottom=[min(o, c) - (0.25 if o == c else 0) for _, o, _, _, c in candles], width=days * 0.7,
               color=["white" if down else color for down, color in zip(fell, colors)], edgecolor=colors,
               linewidth=1.2)
    ax.set_ylabel("open items")
    _date_axis(ax)
    each = period if merge == 1 else MERGED.get((period, merge), f"{merge} {period}s")
    _legend_above(ax, [Patch(color=PALETTE[5], label="rose"),
                       Patch(facecolor="white", edgecolor=PALETTE[0], label="fell"),
                       Patch(color="gray", label=f"unchanged (a candle: a {each})")], columns=3)
    return fig


def bar_chart(numbers: Dict[str, Any], names: str, values: str) -> Figure:
    """Horizontal bars, largest on top, full ``names`` (the y axis), ``values`` at the bar ends."""
    entries = [(printable(str(name)), value) for name, value in numbers["top"]]
    longest = max((len(name) for name, _ in entries), default=0)
    fig = _figure(max(2.5, 0.7 + 0.3 * len(entries)), top=0.15, bottom=0.55,
                  left=min(3.4, 0.6 + 0.085 * longest), right=0.3)
    ax = fig.add_subplot()
    bars = ax.barh([name for name, _ in reversed(entries)], [value for _, value in reversed(entries)],
                   color=PALETTE[0], height=0.7)
    ax.bar_label(bars, padding=3)
    ax.set_xlabel(values)
    ax.set_ylabel(names)
    ax.grid(True, axis="x")
    ax.spines["right"].set_visible(False)
    ax.margins(x=0.12, y=0.01)
    return fig


def _fluid(svg: bytes) -> bytes:
    """The SVG as wide as its container, whatever that is (its viewBox keeps the proportions), not a fixed size."""
    return re.sub(rb'(<svg [^>]*?)width="[0-9.]+pt" height="[0-9.]+pt"', rb'\1width="100%"', svg, count=1)


def warm() -> None:
    """Import matplotlib and draw a small chart in memory: its modules, fonts and text metrics, once a process."""
    numbers = {"period": "month", "periods": ["2024-01", "2024-02"], "created": [1, 2], "cumulative": [1, 3]}
    with _style("warm"):
        counts_chart(numbers, "created").savefig(io.BytesIO(), format="svg")


def _style(stem: str):
    import matplotlib

    return matplotlib.rc_context(dict(STYLE, **{"svg.hashsalt": stem}))


def render(numbers: Dict[str, Any], chart: Callable[[Dict[str, Any]], Figure], out: str,
           png: bool = False) -> Dict[str, str]:
    """Draw a view's ``chart`` of its numbers to SVG (and PNG, with ``png``), write the numbers as JSON; the paths."""
    directory = pathlib.Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{numbers['view']}-{numbers['subset'].replace('_', '-')}"
    paths = {kind: directory / f"{stem}.{kind}" for kind in ("svg", "png", "json") if png or kind != "png"}
    metadata = {"Title": printable(numbers["title"])}
    with _style(stem):
        fig = _figure(1.5) if "missing" in numbers else chart(numbers)  # a view without its data: what to run
        if not (numbers.get("periods") or numbers.get("top")):
            fig.text(0.5, 0.5, numbers.get("missing", "no data"), ha="center")
        svg = io.BytesIO()
        fig.savefig(svg, format="svg", metadata=metadata)
        _atomic(paths["svg"], lambda tmp: tmp.write_bytes(_fluid(svg.getvalue())))
        if png:
            _atomic(paths["png"], lambda tmp: fig.savefig(tmp, format="png", dpi=160, metadata=metadata))
    _atomic(paths["json"], lambda tmp: tmp.write_text(json.dumps(numbers, indent=1) + "\n"))
    return {kind: str(path) for kind, path in paths.items()}
