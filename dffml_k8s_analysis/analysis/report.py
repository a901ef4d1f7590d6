"""The analysis as one HTML page: every chart, its table, what it was made from and when the store last synced.

Self-contained: each chart is its SVG as a ``data:`` URI, the style sheet is inline, nothing is
fetched and no script runs, so the file reads the same offline, mailed or opened from a phone.
"""
import base64
import html
import pathlib
from typing import Any, Dict, List

from .. import timeutil
from ..records.selection import SUBSETS
from ..store import open_store
from ..atomic import write_text
from .text import printable
from .views import table

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
main { max-width: 1060px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 0; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
.lead { color: var(--muted); margin: .25rem 0 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .5rem; margin: 1rem 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; }
.card b { display: block; font-size: 1.35rem; }
.card span { color: var(--muted); font-size: .85rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; font-size: .9rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
nav { margin: 1rem 0; font-size: .9rem; }
nav a { display: inline-block; margin: 0 .75rem .25rem 0; }
section { border-top: 1px solid var(--line); padding: 1.25rem 0; }
.view { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-start; }
.view > div { flex: 1 1 16rem; min-width: 0; }  /* the table beside the chart, or below it on a phone */
figure { margin: 0; flex: 3 1 26rem; max-width: 720px; }  /* 12 pt chart text: 18 px here, 10 px on a phone */
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: var(--panel); }
summary { cursor: pointer; color: var(--muted); font-size: .85rem; margin-bottom: .3rem; }
.note { color: var(--muted); font-size: .85rem; margin: .4rem 0 0; }
footer { color: var(--muted); font-size: .8rem; padding: 1rem 0 2rem; }
@media (max-width: 600px) { main { padding: .6rem; } h1 { font-size: 1.3rem; } dl { grid-template-columns: 1fr; }
  dt { margin-top: .3rem; } }
"""


def sync_state(path: str) -> Dict[str, Any]:
    """What the store holds and when it last synced: its counts, high-water mark, closers walk, unfinished plan."""
    with open_store(path) as store:
        return dict(store.count(), high_water=store.sync.get("high_water"),
                    closers=(store.sync.get("closers") or {}).get("since"),
                    export_unfinished=store.sync.plan() is not None, newest=store.max_updated_at())


def _svg_uri(path: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(pathlib.Path(path).read_bytes()).decode()


def _escape(cell: Any) -> str:
    """A cell as HTML text: names from the data keep their ``<``, ``$`` and ``\\``, lose their control characters."""
    return html.escape(printable(str(cell)))


def _table(numbers: Dict[str, Any]) -> str:
    """The view's table, folded away when the chart already prints its values (the top-N bars)."""
    summary = table(numbers)
    head = "".join(f"<th>{_escape(name)}</th>" for name in summary["columns"])
    rows = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in summary["rows"])
    unfolded = " open" if "periods" in numbers else ""
    return (f'<details{unfolded}><summary>table: {len(summary["rows"])} rows</summary>'
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></details>'
            f'<p class="note">{_escape(summary["note"])}</p>')


def _section(numbers: Dict[str, Any]) -> str:
    title = html.escape(numbers["title"])
    if "missing" in numbers:  # a view without its data: what to run, in place of a chart
        return f'<section id="{numbers["view"]}"><h2>{title}</h2><p class="note">{_escape(numbers["missing"])}</p></section>'
    return (f'<section id="{numbers["view"]}"><h2>{title}</h2>'
            f'<div class="view"><figure><img class="chart" src="{_svg_uri(numbers["files"]["svg"])}" alt="{title}">'
            f"</figure><div>{_table(numbers)}</div></div></section>")


def _cards(loaded: Dict[str, Any], sync: Dict[str, Any], views: Dict[str, Dict[str, Any]]) -> List[tuple]:
    cards = [(loaded["selected"], "items analysed"), (sync["issues"], "issues stored"),
             (sync["pull_requests"], "pull requests stored")]
    if "created-vs-closed" in views and views["created-vs-closed"]["open"]:
        cards.append((views["created-vs-closed"]["open"][-1], "open now"))
    if "time-to-close" in views:
        for kind, label in (("pull_requests", "PRs"), ("issues", "issues")):
            median = views["time-to-close"][kind]["median_total"]
            if median is not None:
                cards.append((f"{median:.1f} d", f"median days to close, {label}"))
    return cards


def _facts(loaded: Dict[str, Any], sync: Dict[str, Any], filters: Dict[str, Any], views: List[str]) -> List[tuple]:
    synced = sync["high_water"] or "never completed"
    if sync["export_unfinished"]:
        synced += " (an export is unfinished: rerun it to complete the store)"
    return [
        ("store", loaded["store"]),
        ("last synced", f"{synced}; newest item updated {sync['newest'] or '-'}"),
        ("who closed what", f"closers walked up to {sync['closers']}" if sync["closers"]
         else "closers not walked (export --closers): only the closers the items name"),
        ("items", f"{loaded['selected']} {SUBSETS[filters['subset']]} of {loaded['records']} parsed items; "
                  f"{loaded['malformed']} malformed items skipped"),
        ("include", filters["include"] or "(everything)"),
        ("exclude", filters["exclude"] or "(nothing)"),
        ("period, top N", f"{filters['period']}, {filters['count']}"),
        ("views", ", ".join(views)),
    ]


def render_report(result: Dict[str, Any], sync: Dict[str, Any], made: str) -> str:
    """The page for ``flows.run_analyze``'s result: its views (charts on disk), what it loaded, its filters."""
    loaded, filters = result["loaded"], result["filters"]
    views = {numbers["view"]: numbers for numbers in result["views"]}
    cards = "".join(f'<div class="card"><b>{html.escape(str(value))}</b><span>{html.escape(label)}</span></div>'
                    for value, label in _cards(loaded, sync, views))
    facts = "".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"
                    for name, value in _facts(loaded, sync, filters, list(views)))
    links = "".join(f'<a href="#{name}">{html.escape(numbers["title"])}</a>' for name, numbers in views.items())
    stem = pathlib.Path(loaded["store"]).stem
    title = f"Issues and pull requests of {stem.replace('__', '/') if '__' in stem else pathlib.Path(loaded['store']).name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><main>
<h1>{html.escape(title)}</h1>
<p class="lead">{len(views)} views of {loaded['selected']} items, made {made} by k8s-analysis analyze</p>
<div class="cards">{cards}</div>
<dl>{facts}</dl>
<nav>{links}</nav>
{"".join(_section(numbers) for numbers in views.values())}
<footer>Each chart's numbers are in the JSON file beside this page; every view is one DFFML operation of
dataflows/analyze.yaml.</footer>
</main></body></html>
"""


def write_report(path: pathlib.Path, result: Dict[str, Any]) -> str:
    """Write the page atomically next to the charts; return its path."""
    made = timeutil.now().strftime("%Y-%m-%d %H:%M UTC")
    page = render_report(result, sync_state(result["loaded"]["store"]), made)
    write_text(path, page)
    return str(path)
