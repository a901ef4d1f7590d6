"""Benchmark the analysis over the store's derived columns against today's path and the original's.

Builds a store of 135,000 emulated items once (the emulator's sample, written page by page through
``Store.save_page``, so its derived columns are kept as an export keeps them), then measures, each
side in its own subprocess so its peak memory (RSS high-water) is its own:

- ours: reading every derived column; every view alone, end to end through the analyze dataflow
  (reading only its columns + numbers + SVG + JSON, what ``k8s-analysis analyze --VIEW`` runs once
  its modules are imported); all views end to end the same way; and ``k8s-analysis analyze`` as a
  user runs it (PNGs are opt-in, ``--png``: not drawn);
- the old path: the code before the derived columns (git commit ``OLD``, extracted with ``git
  archive``) on a copy of the store in that commit's own schema: reparse every raw item,
  pure-Python views; with ``--before COMMIT``, all views the same way at that commit (the figures
  before a change, in the same run);
- the original's ``Data`` class: ``json.load`` of the blob, one object per item, ``pickle.dump``
  and ``pickle.load`` (``load`` is what every one of its analysis runs paid).

Prints a table with medians and ratios and, last, one line of JSON. ``--smoke``: 300 items, once
each (the suite runs it, so a benchmark that breaks fails the tests).

    .venv/bin/python bench/analyze.py [--items 135000] [--repeat 3] [--store PATH] [--before COMMIT] [--smoke]

``--startup`` measures only the command line's start: ``k8s-analysis analyze`` (every view) and
``k8s-analysis --help`` as fresh processes, against the command line before it imported only what
a command runs (git commit ``STARTUP_BASELINE``, from ``git archive``), in the same run.

``--drawing`` measures only the charts: every view's numbers computed once, then all their charts
drawn from them as the analyze dataflow draws them (ours: in worker processes, one per core), in
fresh processes taking turns with ``--before COMMIT``'s way in the same run: the fresh process's pass
(matplotlib's import, or the workers' start, included) and the warm passes after it, wall and CPU
(the workers' included, from /proc), and the busiest process's CPU in a warm pass: the wall the pass
would take on idle cores (a shared machine's scheduler gives a session one share, however many
processes it has).
"""
import argparse
import compileall
import datetime
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

BIN = Path(sys.executable).parent
OLD = "47c8e2c"  # the last commit whose views reparse every raw item
STARTUP_BASELINE = "044f4ce"  # the last commit whose every command, --help included, imported dffml and scikit-learn
ROOT = Path(__file__).resolve().parent.parent


def timed(func, *args):
    started = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - started, result


def cpu_timed(func, *args):
    """Wall and CPU seconds (all threads) of a call: on a shared machine the CPU time is the stable figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def peak_mib() -> float:
    """This process's RSS high-water (VmHWM: unlike ru_maxrss it starts afresh at exec, not at the parent's)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def worker_ours(store: str, out: str, repeat: int) -> dict:
    from dffml_k8s_analysis import flows
    from dffml_k8s_analysis.analysis.columns import load
    from dffml_k8s_analysis.analysis.views import VIEWS, render, run_view

    render(run_view("created", load(store)[0]), out)  # matplotlib's first import and fonts: paid once per process
    read = [cpu_timed(load, store) for _ in range(repeat)]
    alone = {name: [cpu_timed(flows.run_analyze, store, [name], "all", "", "", 25, "month", out)
                    for _ in range(repeat)] for name in VIEWS}
    views = {name: statistics.median(wall for wall, _ in runs) for name, runs in alone.items()}
    views_cpu = {name: statistics.median(cpu for _, cpu in runs) for name, runs in alone.items()}
    numbers = {name: statistics.median(timed(run_view, name, load(store)[0])[0] for _ in range(repeat)) for name in VIEWS}
    runs = [cpu_timed(flows.run_analyze, store, list(VIEWS), "all", "", "", 25, "month", out) for _ in range(repeat)]
    return {"items": len(load(store)[0]), "read_s": statistics.median(wall for wall, _ in read),
            "read_cpu_s": statistics.median(cpu for _, cpu in read), "views_s": views, "views_cpu_s": views_cpu,
            "numbers_s": numbers, "all_views_s": statistics.median(wall for wall, _ in runs),
            "all_views_cpu_s": statistics.median(cpu for _, cpu in runs), "peak_mib": peak_mib()}


def worker_all(store: str, out: str, repeat: int) -> dict:
    """Every view end to end through the analyze dataflow and nothing else: the peak memory a user's run has."""
    from dffml_k8s_analysis import flows
    from dffml_k8s_analysis.analysis.views import VIEWS

    runs = [cpu_timed(flows.run_analyze, store, list(VIEWS), "all", "", "", 25, "month", out) for _ in range(repeat)]
    return {"all_views_s": statistics.median(wall for wall, _ in runs),
            "all_views_cpu_s": statistics.median(cpu for _, cpu in runs), "peak_mib": peak_mib()}


# Run in a commit's tree (ours too, in --all-views-only): where the commit has them, reading every column
# (``read_*``: the snapshot when current; ``read_sql_*``: by SQL, what a stale or older store costs) and
# computing every view's numbers on columns read once (``compute_cpu_s``); then all views end to end.
OLD_WORKER = """
import json, statistics, sys, time
from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis.views import VIEWS
from dffml_k8s_analysis.records.issues_source import read_records
store, out, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
def timed(func, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu
def medians(name, runs):
    return {f"{name}_s": statistics.median(wall for wall, _ in runs), f"{name}_cpu_s": statistics.median(c for _, c in runs)}
figures = {"parse_s": statistics.median(timed(read_records, store)[0] for _ in range(repeat))
           if sys.argv[4] == "parse" else None}
try:
    from dffml_k8s_analysis.analysis.columns import load
    from dffml_k8s_analysis.analysis.views import needs, run_view
except ImportError:  # before the columns
    load = None
if load is not None:
    figures.update(medians("read", [timed(load, store) for _ in range(repeat)]))
    items = load(store, needs(list(VIEWS)))[0]
    figures["compute_cpu_s"] = statistics.median(timed(lambda: [run_view(name, items) for name in VIEWS])[1]
                                                 for _ in range(repeat))
    try:
        from dffml_k8s_analysis.store import derived, open_store, snapshot
    except ImportError:  # before the snapshot: its read is by SQL
        snapshot = None
    if snapshot is not None:
        def by_sql():
            with open_store(store) as db:
                derived.read(db, tuple(derived.NUMBERS), tuple(derived.TEXTS), ("",), True, ("",))
        figures.update(medians("read_sql", [timed(by_sql) for _ in range(repeat)]))
runs = [timed(flows.run_analyze, store, list(VIEWS), "all", "", "", 25, "month", out) for _ in range(repeat)]
status = open("/proc/self/status").read()
print(json.dumps(dict(figures, all_views_s=statistics.median(wall for wall, _ in runs),
                      all_views_cpu_s=statistics.median(cpu for _, cpu in runs),
                      peak_mib=int(status.split("VmHWM:")[1].split()[0]) / 1024)))
"""


# In a commit's own tree: an empty store in its schema, then every column it shares with the measured store.
CONVERT = """
import sqlite3, sys
try:
    from dffml_k8s_analysis.store import open_store
except ImportError:  # before PostgreSQL: one SQLite file, its own class
    from dffml_k8s_analysis.store.sqlite import Store as open_store
source, target = sys.argv[1], sys.argv[2]
open_store(target, create=True).close()
db = sqlite3.connect(target)
db.execute("ATTACH DATABASE ? AS source", (source,))
def columns(table, schema):
    return [name for (name,) in db.execute("SELECT name FROM pragma_table_info(?, ?)", (table, schema))]
for (table,) in db.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'").fetchall():
    shared = ", ".join(name for name in columns(table, "main") if name in columns(table, "source"))
    if shared and not table.startswith("sqlite_"):
        mine = " WHERE key <> 'schema'" if table == "state" else ""  # the copy keeps its own schema version
        db.execute(f"DELETE FROM main.{table}{mine}")
        db.execute(f"INSERT INTO main.{table} ({shared}) SELECT {shared} FROM source.{table}{mine}")
db.commit()
db.execute("DETACH DATABASE source")
db.execute("VACUUM")
db.close()
open_store(target, create=True).close()  # written to once: a commit that derives columns derives what it misses
"""


def extract(commit: str, tree: Path) -> Path:
    """The tree of git revision ``commit`` in the new directory ``tree``."""
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def in_schema(tree: Path, store: Path, copy: Path) -> Path:
    """A copy of ``store`` in the schema of the code in ``tree`` (an older commit refuses the newer tables)."""
    subprocess.run([sys.executable, "-c", CONVERT, str(store), str(copy)], cwd=tree,
                   env=dict(os.environ, PYTHONPATH=str(tree)), check=True)
    return copy


def run_commit(commit: str, store: Path, tmp: str, repeat: int, parse: bool) -> dict:
    """All views as the code of ``commit`` (from git) runs them, on a copy of the store in its own schema."""
    tree = extract(commit, Path(tmp, f"tree-{commit}"))
    return run_tree(tree, in_schema(tree, store, Path(tmp, f"{commit}.sqlite")), Path(tmp, f"{commit}-out"), repeat,
                    parse)


def run_tree(tree: Path, store: Path, out: Path, repeat: int, parse: bool = False) -> dict:
    """``OLD_WORKER``'s figures of the code in ``tree`` on ``store``, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", OLD_WORKER, str(store), str(out), str(repeat),
                           "parse" if parse else "views"], cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Label:
    """The original's label object: name and group."""

    def __init__(self, data: dict):
        self.name = data["name"]
        self.group = self.name.split("/")[0] if "/" in self.name else None


class Item:
    """The original's Issue/PullRequest objects: parsed dates, labels, release note."""

    def __init__(self, data: dict):
        from dffml_k8s_analysis.records.parse import release_note

        fmt = "%Y-%m-%dT%H:%M:%S%z"
        self.title, self.url, self.number, self.markdown = data["title"], data["html_url"], data["number"], data["body"]
        self.created = datetime.datetime.strptime(data["created_at"], fmt)  # noqa: DTZ007 - fmt has %z
        self.closed = datetime.datetime.strptime(data["closed_at"], fmt) if data["closed_at"] else None  # noqa: DTZ007
        self.labels = [Label(label) for label in data["labels"]]
        self.created_by = (data.get("user") or {}).get("login")
        self.release_note = release_note(data["body"]) if "pull_request" in data else None


def worker_original(blob: str, tmp: str, repeat: int) -> dict:
    figures = {"json_load_s": [], "objects_s": [], "pickle_dump_s": [], "pickle_load_s": []}
    pickled = Path(tmp, "data.pickle")
    for _ in range(repeat):
        raw = objects = restored = None
        with open(blob) as handle:
            seconds, raw = timed(json.load, handle)
        figures["json_load_s"].append(seconds)
        seconds, objects = timed(lambda: {item["number"]: Item(item) for item in raw})  # noqa: B023 - called at once
        figures["objects_s"].append(seconds)
        raw = None
        with open(pickled, "wb") as handle:
            figures["pickle_dump_s"].append(timed(pickle.dump, objects, handle)[0])
        objects = None
        with open(pickled, "rb") as handle:
            seconds, restored = timed(pickle.load, handle)
        figures["pickle_load_s"].append(seconds)
    result = {name: statistics.median(values) for name, values in figures.items()}
    return dict(result, items=len(restored), pickle_mib=pickled.stat().st_size / 2**20, peak_mib=peak_mib())


def run_worker(*args: str) -> dict:
    """One worker in a fresh interpreter; its last stdout line is its JSON result."""
    done = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_store(store: Path, items: int) -> float:
    """The emulator's sample items, saved 1,000 to a page as the export saves its pages."""
    from dffml_k8s_analysis.emulator.sample import Sample
    from dffml_k8s_analysis.store import open_store

    started = time.perf_counter()
    sample = Sample(items, seed=1)
    with open_store(store, create=True) as db:
        for first in range(1, items + 1, 1000):
            db.save_page([sample.item(number, "http://127.0.0.1", detail=True)
                          for number in range(first, min(first + 1000, items + 1))])
        fill_timeline(db)
        db.refresh_columns()  # as the export's end does
    return time.perf_counter() - started


DAY = 86400
PICKED = (("author", 0.4), ("person", 0.4), ("bot", 0.15), ("ghost", 0.05))  # who applies a kind/ or sig/ label


def fill_timeline(db, seed: int = 1, batch: int = 20000) -> None:
    """A deterministic timeline for the store's items, as the timeline export would write it: 97% walked; a
    first response for 85% (hours to weeks, bots and the author never), for PRs a first review (80%) and the
    merge of 75% of the closed; label events: needs-triage by a bot at creation (70% removed by a person
    later), one kind/ and one sig/ label and for 30% an area/ (by the author, a person, a bot or a ghost),
    needs-rebase on and off on 30% of PRs."""
    import random

    rng = random.Random(seed)
    kinds, weights = zip(*PICKED)
    items = db.execute("SELECT number, pull_request, created_at, closed_at FROM derived WHERE problem IS NULL")
    for first in range(0, len(items), batch):
        timeline, events = [], []
        for number, pr, created, closed in items[first:first + batch]:
            if rng.random() >= 0.97:
                continue
            later = lambda mean: created + int(rng.expovariate(1 / (mean * DAY)))  # noqa: E731, B023
            review = later(2) if pr and rng.random() < 0.8 else None
            merged = max(closed, review or 0) if pr and closed and rng.random() < 0.75 else None
            timeline.append((number, "2026-01-01T00:00:00Z", later(3) if rng.random() < 0.85 else None, review,
                             merged, 1))
            mine = [(created, "labeled", "needs-triage", "bot")]
            if rng.random() < 0.7:
                mine.append((later(10), "unlabeled", "needs-triage", "person"))
            labels = [rng.choice(("kind/bug", "kind/feature", "kind/cleanup")), f"sig/{rng.choice('abcdefgh')}"]
            for label in labels + ([f"area/{rng.choice('xyz')}"] if rng.random() < 0.3 else []):
                mine.append((later(1), "labeled", label, rng.choices(kinds, weights)[0]))
            if pr and rng.random() < 0.3:
                on = later(5)
                mine += [(on, "labeled", "needs-rebase", "bot"), (on + int(rng.expovariate(1 / DAY)), "unlabeled",
                                                                  "needs-rebase", "bot")]
            events += [(number, seq, at, action, label, None if kind == "ghost" else "someone", kind)
                       for seq, (at, action, label, kind) in enumerate(sorted(mine))]
        with db.transaction():
            db.executemany("INSERT INTO timeline (number, updated_at, first_response_at, first_review_at, merged_at, "
                           "complete) VALUES (?, ?, ?, ?, ?, ?)", timeline)
            db.executemany("INSERT INTO label_events (number, seq, at, action, label, actor, actor_kind) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", events)


def dump_blob(store: Path, blob: Path) -> None:
    from dffml_k8s_analysis.store import open_store

    with open_store(store) as db, open(blob, "w") as handle:
        json.dump(list(db.raw_items()), handle)


def cli_seconds(store: Path, out: Path, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([str(BIN / "k8s-analysis"), "analyze", "--store", str(store), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def startup(store: Path, tmp: str, repeat: int) -> dict:
    """Median wall and CPU seconds of fresh ``k8s-analysis analyze`` and ``--help`` processes, ours and the
    baseline's (CPU: the stable figure on a shared machine)."""
    tree = extract(STARTUP_BASELINE, Path(tmp, "startup-baseline"))
    stores = {"ours": store, "baseline": in_schema(tree, store, Path(tmp, "startup-baseline.sqlite"))}
    figures = {}
    for side, path in (("ours", ROOT), ("baseline", tree)):
        env = dict(os.environ, PYTHONPATH=str(path))
        compileall.compile_dir(str(path / "dffml_k8s_analysis"), quiet=1)  # no timed run compiles the tree's bytecode
        for name, args in (("analyze", ["analyze", "--store", str(stores[side]), "--out", str(Path(tmp, side))]),
                           ("help", ["--help"])):
            walls, cpus = [], []
            for _ in range(repeat):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "dffml_k8s_analysis.cli.main", *args], cwd=path, env=env,
                               check=True, stdout=subprocess.DEVNULL)
                walls.append(time.perf_counter() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            figures[f"{side}_{name}_s"] = round(statistics.median(walls), 3)
            figures[f"{side}_{name}_cpu_s"] = round(statistics.median(cpus), 3)
    imports = import_seconds(["analyze", "--store", str(store), "--out", str(Path(tmp, "ours"))], repeat)
    figures.update({f"ours_analyze_{name}": value for name, value in imports.items()})
    return figures


def import_seconds(args, repeat: int) -> dict:
    """What a fresh ``k8s-analysis ARGS`` spends importing modules (the part of its start lazy imports can trim):
    ``imports_s``, the top-level imports' cumulative wall time (``-X importtime``, one run), and
    ``imports_cpu_s``, the CPU seconds of a fresh process importing those modules alone (the median of ``repeat``)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dffml_k8s_analysis.cli.main", *args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")][1:]
    top = [row for row in rows if not row[2].startswith("  ")]
    cpus = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)",
                        *[row[2].strip() for row in top]], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"imports_s": round(sum(int(row[1]) for row in top) / 1e6, 3), "imports_cpu_s": round(statistics.median(cpus), 3)}


def main_startup(args: argparse.Namespace) -> None:
    """``--startup``: build (or reuse) the store, time both sides, print the figures and one line of JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp, "k8s.sqlite"))
        if not store.is_file():
            print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        figures = startup(store, tmp, args.repeat)
    print(f"\nfresh processes, medians of {args.repeat}: wall s (CPU s), the baseline's and its ratio")
    for name, label in (("analyze", f"k8s-analysis analyze ({args.items} items)"), ("help", "k8s-analysis --help")):
        ours, baseline = figures[f"ours_{name}_s"], figures[f"baseline_{name}_s"]
        ours_cpu, baseline_cpu = figures[f"ours_{name}_cpu_s"], figures[f"baseline_{name}_cpu_s"]
        print(f"  {label:<38}{ours:>7.2f} ({ours_cpu:.2f}){baseline:>8.2f} ({baseline_cpu:.2f})"
              f"{baseline / ours:>6.1f}x ({baseline_cpu / ours_cpu:.1f}x)")
    print(f"  of which imports (ours): {figures['ours_analyze_imports_s']:.2f} s wall (-X importtime, one run), "
          f"{figures['ours_analyze_imports_cpu_s']:.2f} s CPU (a process importing the same modules alone)")
    print(json.dumps(dict(figures, items=args.items, repeat=args.repeat, baseline=STARTUP_BASELINE,
                          ratio_analyze=round(figures["baseline_analyze_s"] / figures["ours_analyze_s"], 2),
                          ratio_help=round(figures["baseline_help_s"] / figures["ours_help_s"], 2),
                          target_met=figures["ours_analyze_s"] <= 1.5)))


def write_cost(tmp: str, items: int, changes: int = 500) -> dict:
    """CPU seconds of what the snapshot adds to the writers, SQLite: an export's pages (1,000 items each) and its
    timeline with the columns version's triggers, beside the same without them, and the snapshot's refresh at its
    end; an update of ``changes`` items, the same."""
    from dffml_k8s_analysis.emulator.sample import Sample
    from dffml_k8s_analysis.store import migrations, open_store

    sample, figures = Sample(items, seed=1), {}
    for side in ("triggers", "without"):
        with open_store(Path(tmp, f"cost-{side}.sqlite"), create=True) as db:
            if side == "without":
                with db.transaction():
                    for table in migrations.WATCHED:
                        for action in ("INSERT", "UPDATE", "DELETE"):
                            db.execute(f"DROP TRIGGER {table}_{action}_columns")
            cpu = 0.0
            for first in range(1, items + 1, 1000):
                page = [sample.item(number, "http://127.0.0.1", detail=True)
                        for number in range(first, min(first + 1000, items + 1))]
                cpu += cpu_timed(db.save_page, page)[1]
            cpu += cpu_timed(fill_timeline, db)[1]
            figures[f"export_{side}_cpu_s"] = cpu
            changed = [dict(sample.item(number, "http://127.0.0.1", detail=True), updated_at="2029-01-01T00:00:00Z")
                       for number in range(1, items + 1, max(items // changes, 1))][:changes]
            figures[f"update_{side}_cpu_s"] = cpu_timed(db.save_page, changed)[1]
            if side == "triggers":
                figures["refresh_after_update_cpu_s"] = cpu_timed(db.refresh_columns)[1]
                with db.transaction():
                    db.execute("UPDATE state SET value = '-1' WHERE key = 'columns_version'")  # stale: rewritten
                figures["refresh_after_export_cpu_s"] = cpu_timed(db.refresh_columns)[1]
                figures["snapshot_mib"] = db.execute("SELECT LENGTH(data) FROM columns_snapshot")[0][0] / 2**20
    return {key: round(value, 3) for key, value in figures.items()}


def main_write_cost(args: argparse.Namespace) -> None:
    """``--write-cost``: the snapshot's cost to an export and an update, printed and as one line of JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = write_cost(tmp, args.items)
    print(f"\nthe snapshot's cost to the writers, {args.items} items, CPU s: with it, without it (triggers)")
    for name in ("export", "update"):
        label = "export's pages and timeline" if name == "export" else "update of 500 changes"
        print(f"  {label:<30}{figures[f'{name}_triggers_cpu_s']:>8.2f}{figures[f'{name}_without_cpu_s']:>8.2f}"
              f"   + refresh {figures[f'refresh_after_{name}_cpu_s']:.2f}")
    print(f"  snapshot: {figures['snapshot_mib']:.1f} MiB")
    print(json.dumps(dict(figures, items=args.items)))


def main_all_views(args: argparse.Namespace) -> None:
    """``--all-views-only``: all views end to end, ours and (``--before``) the commit's, wall, CPU, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp, "k8s.sqlite"))
        if not store.is_file():
            print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        ours = run_worker("all", str(store), str(Path(tmp, "out")), "--repeat", str(args.repeat))
        ours.update({key: value for key, value in run_tree(ROOT, store, Path(tmp, "out"), args.repeat).items()
                     if key.startswith(("read", "compute"))})
        before = run_commit(args.before, store, tmp, args.repeat, parse=False) if args.before else None
    print_reading(ours, before, args)
    print(f"\nall views end to end, medians of {args.repeat}: wall s, CPU s, peak RSS MiB (target <= 300)")
    for side, figures in (("ours", ours), (f"before: {args.before}", before)):
        if figures:
            print(f"  {side:<30}{figures['all_views_s']:>8.2f}{figures['all_views_cpu_s']:>8.2f}"
                  f"{figures['peak_mib']:>8.0f}")
    print(json.dumps({"items": args.items, "repeat": args.repeat, "all_views_s": round(ours["all_views_s"], 3),
                      "all_views_cpu_s": round(ours["all_views_cpu_s"], 3), "peak_mib": round(ours["peak_mib"]),
                      **reading_figures(ours, before),
                      "before": args.before, "before_all_views_s": before and round(before["all_views_s"], 3),
                      "before_all_views_cpu_s": before and round(before["all_views_cpu_s"], 3),
                      "before_peak_mib": before and round(before["peak_mib"]),
                      "target_met": ours["peak_mib"] <= 300}))


READING = (("read", "read every column (the snapshot)", 0.4), ("read_sql", "read every column by SQL (stale)", None),
           ("compute", "compute all views (columns read once)", 0.3))


def reading_figures(ours: dict, before: Optional[dict]) -> dict:
    """Reading and computing, ours and ``before``'s, rounded, for the JSON line."""
    found = {}
    for side, figures in (("", ours), ("before_", before or {})):
        for key in ("read_s", "read_cpu_s", "read_sql_s", "read_sql_cpu_s", "compute_cpu_s"):
            if figures.get(key) is not None:
                found[side + key] = round(figures[key], 3)
    return found


def print_reading(ours: dict, before: Optional[dict], args: argparse.Namespace) -> None:
    """Reading every column and computing every view: ours, and ``--before``'s from the same run, with the ratio."""
    print(f"\nreading and computing, medians of {args.repeat}: wall s (CPU s); before: {args.before or '-'}; "
          "ratio of CPU")
    for key, label, target in READING:
        cpu = ours.get(f"{key}_cpu_s")
        if cpu is None:
            continue
        wall = f"{ours[f'{key}_s']:>7.2f} ({cpu:.2f})" if f"{key}_s" in ours else f"{'':>7} ({cpu:.2f})"
        old = (before or {}).get(f"{key}_cpu_s", (before or {}).get(f"{key.split('_')[0]}_cpu_s"))
        versus = f"{old:>8.2f}{old / cpu:>7.1f}x" if old else ""
        print(f"  {label:<42}{wall}{versus}" + (f"   target <= {target} s" if target else ""))


DRAW_WORKER = """
import asyncio, contextlib, json, os, pickle, sys, time
numbers_file, out, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
from dffml_k8s_analysis.analysis.views import VIEWS, render
try:  # drawn in worker processes since 04d4f03; before, one after the other in the process
    from dffml_k8s_analysis.analysis import drawing
except ImportError:
    drawing = None
results = [result for result in pickle.load(open(numbers_file, "rb")) if result["view"] in VIEWS]
TICK = os.sysconf("SC_CLK_TCK")
def cpus(pool):
    # CPU seconds of this process and of each worker
    workers = pool._processes if pool is not None else {}
    return [time.process_time()] + [sum(int(field) for field in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1]
                                        .split()[11:13]) / TICK for pid in workers]
async def every():
    if drawing is None:
        return [render(result, out) for result in results]
    return await asyncio.gather(*(drawing.draw(result, out) for result in results))
started, began = time.perf_counter(), time.process_time()
with drawing.workers(len(results)) if drawing else contextlib.nullcontext():
    pool = drawing and drawing._pool
    workers = len(pool._processes) if pool else 0
    asyncio.run(every())  # a fresh process: matplotlib's import (or the workers' start) included
    passes = [(time.perf_counter() - started, sum(cpus(pool)) - began, None)]
    for _ in range(repeat):
        wall, spent = time.perf_counter(), cpus(pool)
        asyncio.run(every())
        now = cpus(pool)
        busy = [after - before for after, before in zip(now, spent)]
        passes.append((time.perf_counter() - wall, sum(busy), max(busy)))
median = lambda index: sorted(p[index] for p in passes[1:])[len(passes[1:]) // 2]
print(json.dumps({"charts": len(results), "workers": workers, "fresh_s": passes[0][0], "fresh_cpu_s": passes[0][1],
                  "warm_s": median(0), "warm_cpu_s": median(1), "busiest_cpu_s": median(2)}))
"""


def worker_numbers(store: str, numbers_file: str, repeat: int) -> dict:
    """Every view's numbers, pickled once for both sides of ``--drawing``."""
    from dffml_k8s_analysis.analysis.columns import load
    from dffml_k8s_analysis.analysis.views import VIEWS, needs, run_view

    items = load(store, needs(list(VIEWS)))[0]
    with open(numbers_file, "wb") as handle:
        pickle.dump([run_view(name, items) for name in VIEWS], handle)
    return {"items": len(items)}


def draw_once(tree: Path, numbers_file: Path, out: Path, repeat: int) -> dict:
    """The charts of every view drawn as the code in ``tree`` draws them, in a fresh process: its fresh pass and
    the median of ``repeat`` warm passes."""
    done = subprocess.run([sys.executable, "-c", DRAW_WORKER, str(numbers_file), str(out), str(repeat)], cwd=tree,
                          env=dict(os.environ, PYTHONPATH=str(tree)), check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main_drawing(args: argparse.Namespace) -> None:
    """``--drawing``: the charts of every view from their numbers, ours and ``--before``'s, wall and CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp, "k8s.sqlite"))
        if not store.is_file():
            print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        numbers_file = Path(tmp, "numbers.pickle")
        items = run_worker("numbers", str(store), str(numbers_file))["items"]
        trees = {"ours": ROOT}
        if args.before:
            trees["before"] = extract(args.before, Path(tmp, f"tree-{args.before}"))
        runs = {side: [] for side in trees}
        for _ in range(args.repeat):  # the sides' processes in turn: a shared machine's load falls on both alike
            for side, tree in trees.items():
                runs[side].append(draw_once(tree, numbers_file, Path(tmp, side), args.repeat))
        sides = {side: {key: statistics.median(run[key] for run in done) for key in done[0]}
                 for side, done in runs.items()}
    ours, before = sides["ours"], sides.get("before")
    print(f"\nthe charts of {ours['charts']:.0f} views from their numbers ({items} items), medians of {args.repeat} "
          f"processes: wall s (CPU s, workers' included), target <= 0.8 s")
    for side, figures in sides.items():
        name = f"{side} ({figures['workers']:.0f} workers)" if figures["workers"] else f"{side} (in process)"
        print(f"  {name:<28} fresh process {figures['fresh_s']:6.2f} ({figures['fresh_cpu_s']:.2f})"
              f"   warm {figures['warm_s']:6.2f} ({figures['warm_cpu_s']:.2f}; busiest process "
              f"{figures['busiest_cpu_s']:.2f})")
    if before:
        print(f"  before/ours: fresh {before['fresh_s'] / ours['fresh_s']:.2f}x, warm {before['warm_s'] / ours['warm_s']:.2f}x"
              f" (CPU {before['warm_cpu_s'] / ours['warm_cpu_s']:.2f}x; busiest process, the wall on idle cores: "
              f"{before['busiest_cpu_s'] / ours['busiest_cpu_s']:.2f}x)")
    rounded = {side: {key: round(value, 3) for key, value in figures.items()} for side, figures in sides.items()}
    print(json.dumps({"items": items, "repeat": args.repeat, "before": args.before, **{
        f"{side}_{key}": value for side, figures in rounded.items() for key, value in figures.items()},
        "ratio_warm": round(before["warm_s"] / ours["warm_s"], 2) if before else None,
        "ratio_fresh": round(before["fresh_s"] / ours["fresh_s"], 2) if before else None,
        "ratio_busiest": round(before["busiest_cpu_s"] / ours["busiest_cpu_s"], 2) if before else None,
        "target_met": ours["warm_s"] <= 0.8}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=135000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", help="reuse (or build once at) this store")
    parser.add_argument("--before", metavar="COMMIT", help="also run all views at this commit (before a change)")
    parser.add_argument("--smoke", action="store_true", help="300 items, once each: that the benchmark runs")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--startup", action="store_true", help="only the command line's start (see above)")
    parser.add_argument("--drawing", action="store_true",
                        help="only the charts of every view from their numbers, ours and --before's (wall and CPU)")
    parser.add_argument("--all-views-only", action="store_true",
                        help="only all views end to end, ours and --before's (a large store: no old path, no blob)")
    parser.add_argument("--write-cost", action="store_true", help="only the snapshot's cost to an export and an update")
    args = parser.parse_args()
    if args.startup:
        return main_startup(args)
    if args.smoke:
        args.items, args.repeat = 300, 1
    if args.write_cost:
        return main_write_cost(args)
    if args.worker:
        kind, path, directory = args.worker
        work = {"ours": worker_ours, "all": worker_all, "original": worker_original, "numbers": worker_numbers}[kind]
        print(json.dumps(work(path, directory, args.repeat)))
        return

    if args.all_views_only:
        return main_all_views(args)
    if args.drawing:
        return main_drawing(args)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp, "k8s.sqlite"))
        if not store.is_file():
            print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        blob = Path(tmp, "api.json")
        dump_blob(store, blob)
        out = Path(tmp, "analysis")
        ours = run_worker("ours", str(store), str(out), "--repeat", str(args.repeat))
        ours.update(run_worker("all", str(store), str(out), "--repeat", str(args.repeat)))  # its own peak
        ours.update({key: value for key, value in run_tree(ROOT, store, out, args.repeat).items()
                     if key.startswith(("read_sql", "compute"))})
        cli = cli_seconds(store, out, args.repeat)
        old = run_commit(OLD, store, tmp, args.repeat, parse=True)
        before = run_commit(args.before, store, tmp, args.repeat, parse=False) if args.before else None
        original = run_worker("original", str(blob), tmp, "--repeat", str(args.repeat))
        store_mib = store.stat().st_size / 2**20

    everything, single = ours["all_views_s"], max(ours["views_s"].values())
    print_reading(ours, before, args)
    print(f"\n{ours['items']} items; store {store_mib:.0f} MiB; medians of {args.repeat}\n")
    print(f"{'data loading':<44}{'s':>8}{'ratio':>9}")
    print(f"  {'ours: read the derived columns':<42}{ours['read_s']:>8.2f}   ({ours['read_cpu_s']:.2f} s CPU)")
    print(f"  {'old path: reparse every raw item':<42}{old['parse_s']:>8.2f}{old['parse_s'] / ours['read_s']:>8.1f}x")
    print(f"  {'original: pickle.load of its cache':<42}{original['pickle_load_s']:>8.2f}"
          f"{original['pickle_load_s'] / ours['read_s']:>8.1f}x")
    every_view = f"all {len(ours['views_s'])} views end to end, charts included"
    print(f"\n{every_view:<44}{'s':>8}{'ratio':>9}   target <= 2 s")
    print(f"  {'ours (analyze dataflow, in process)':<42}{everything:>8.2f}")
    print(f"  {'old path (the same, before this change)':<42}{old['all_views_s']:>8.2f}{old['all_views_s'] / everything:>8.1f}x")
    print(f"  {'original: pickle.load alone':<42}{original['pickle_load_s']:>8.2f}"
          f"{original['pickle_load_s'] / everything:>8.1f}x")
    if before:
        print(f"  {f'before: commit {args.before}':<42}{before['all_views_s']:>8.2f}"
              f"{before['all_views_s'] / everything:>8.2f}x")
    print(f"  {'k8s-analysis analyze (a fresh process)':<42}{cli:>8.2f}")
    print(f"  {'CPU seconds: ours, old path':<42}{ours['all_views_cpu_s']:>8.2f}{old['all_views_cpu_s']:>8.2f}"
          f"  ({old['all_views_cpu_s'] / ours['all_views_cpu_s']:.1f}x)")
    print("\none view end to end (its columns read + numbers + SVG + JSON: wall, CPU; numbers alone), target <= 0.5 s")
    for name, seconds in ours["views_s"].items():
        print(f"  {name:<32}{seconds:>8.2f}{ours['views_cpu_s'][name]:>8.2f}{ours['numbers_s'][name]:>8.3f}")
    print(f"\npeak memory (RSS): ours {ours['peak_mib']:.0f} MiB (target <= 300), old path {old['peak_mib']:.0f} MiB, "
          f"original {original['peak_mib']:.0f} MiB")
    print(json.dumps({
        "items": ours["items"], "repeat": args.repeat, "read_s": round(ours["read_s"], 3),
        "all_views_s": round(everything, 3), "cli_all_views_s": round(cli, 3), "max_view_s": round(single, 3),
        "read_cpu_s": round(ours["read_cpu_s"], 3), "views_s": {k: round(v, 3) for k, v in ours["views_s"].items()},
        "views_cpu_s": {k: round(v, 3) for k, v in ours["views_cpu_s"].items()},
        "max_view_cpu_s": round(max(ours["views_cpu_s"].values()), 3),
        "numbers_s": {k: round(v, 4) for k, v in ours["numbers_s"].items()}, "peak_mib": round(ours["peak_mib"]),
        "all_views_cpu_s": round(ours["all_views_cpu_s"], 3), "old_all_views_cpu_s": round(old["all_views_cpu_s"], 3),
        "old_parse_s": round(old["parse_s"], 3), "old_all_views_s": round(old["all_views_s"], 3),
        "old_peak_mib": round(old["peak_mib"]), "original_pickle_load_s": round(original["pickle_load_s"], 3),
        "original_peak_mib": round(original["peak_mib"]), "ratio_old": round(old["all_views_s"] / everything, 1),
        "ratio_pickle_load": round(original["pickle_load_s"] / everything, 2),
        **reading_figures(ours, before),
        "before": args.before, "before_all_views_s": round(before["all_views_s"], 3) if before else None,
        "before_all_views_cpu_s": round(before["all_views_cpu_s"], 3) if before else None,
        "targets_met": everything <= 2 and single <= 0.5 and ours["peak_mib"] <= 300,
    }))


if __name__ == "__main__":
    main()
