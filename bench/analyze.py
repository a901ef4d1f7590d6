"""Benchmark the analysis against the original's approach on 91,000 items.

Builds a store once from the emulator (zero latency) through the export
dataflow, dumps its raw items as one JSON list (the original's ``api.json``),
then measures, each side in its own subprocess so its peak memory is its own:

- ours: parsing every stored item into records (``source.read_records``),
  every view end to end (numbers + SVG/PNG/JSON files), the analyze dataflow
  with all views, and ``k8s-analysis analyze`` as a user runs it;
- the original's ``Data`` class: ``json.load`` of the blob, one object per
  item (datetimes, label objects, release note; sequential, which is kinder
  than its GIL-bound thread pool), ``pickle.dump`` and ``pickle.load``
  (``load`` is what every one of its analysis runs paid).

Prints a table with medians and ratios and, last, one line of JSON.

    .venv/bin/python bench/analyze.py [--items 91000] [--repeat 3] [--store PATH]
"""
import argparse
import datetime
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = "kubernetes/kubernetes"


def timed(func, *args):
    started = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - started, result


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(store: str, out: str, repeat: int) -> dict:
    from dffml_k8s_analysis import flows
    from dffml_k8s_analysis.records.issues_source import read_records
    from dffml_k8s_analysis.analysis.charts import render
    from dffml_k8s_analysis.analysis.views import VIEWS, run_view

    parse = []
    for _ in range(repeat):
        records = None
        seconds, (records, problems) = timed(read_records, store)
        parse.append(seconds)
    counts = {"items": len(records), "malformed": len(problems)}
    views = {}
    for name in VIEWS:
        views[name] = statistics.median(
            timed(lambda: render(run_view(name, records), out))[0] for _ in range(repeat)
        )
    records = None
    dataflow = statistics.median(
        timed(flows.run_analyze, store, list(VIEWS), "all", "", "", 25, "month", out)[0] for _ in range(repeat)
    )
    return dict(counts, parse_s=statistics.median(parse), views_s=views, dataflow_all_views_s=dataflow,
                peak_mib=peak_mib())


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
        self.created = datetime.datetime.strptime(data["created_at"], fmt)
        self.closed = datetime.datetime.strptime(data["closed_at"], fmt) if data["closed_at"] else None
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
        seconds, objects = timed(lambda: {item["number"]: Item(item) for item in raw})
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
    from dffml_k8s_analysis import flows
    from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

    started = time.perf_counter()
    with running(EmulatorConfig(items=items)) as github:
        flows.run_export(REPO, github.url, str(store), quiet=True)
    return time.perf_counter() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=91000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", help="reuse (or build once at) this store")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path, directory = args.worker
        work = worker_ours if kind == "ours" else worker_original
        print(json.dumps(work(path, directory, args.repeat)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp, "k8s.sqlite"))
        if not store.is_file():
            print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        blob = Path(tmp, "api.json")
        dump_blob(store, blob)
        out = Path(tmp, "analysis")
        ours = run_worker("ours", str(store), str(out), "--repeat", str(args.repeat))
        cli = cli_seconds(store, out, args.repeat)
        original = run_worker("original", str(blob), tmp, "--repeat", str(args.repeat))
        blob_mib = blob.stat().st_size / 2**20
        store_mib = store.stat().st_size / 2**20

    original_parse = original["json_load_s"] + original["objects_s"]
    rows = [
        ("parse all items into records", ours["parse_s"], "json.load + objects", original_parse),
        ("  (a run's data loading)", ours["parse_s"], "pickle.load (its analysis runs)", original["pickle_load_s"]),
    ]
    print(f"\n{original['items']} items; store {store_mib:.0f} MiB, JSON blob {blob_mib:.0f} MiB, "
          f"pickle {original['pickle_mib']:.0f} MiB; medians of {args.repeat}\n")
    print(f"{'ours':<34}{'s':>8}   {'original':<32}{'s':>8}{'ratio':>8}")
    for name, mine, theirs_name, theirs in rows:
        print(f"{name:<34}{mine:>8.2f}   {theirs_name:<32}{theirs:>8.2f}{theirs / mine:>7.1f}x")
    print(f"{'':<45}{'pickle.dump (once)':<32}{original['pickle_dump_s']:>8.2f}")
    print("\nview end to end (numbers + SVG + PNG + JSON), target <= 2 s")
    for name, seconds in ours["views_s"].items():
        print(f"  {name:<32}{seconds:>8.2f}")
    print(f"  {'dataflow, all 8 views + parse':<32}{ours['dataflow_all_views_s']:>8.2f}")
    print(f"  {'k8s-analysis analyze (all views)':<32}{cli:>8.2f}")
    print(f"\npeak memory: ours {ours['peak_mib']:.0f} MiB (target <= 1024), original {original['peak_mib']:.0f} MiB")
    print(json.dumps({
        "items": original["items"], "repeat": args.repeat,
        "parse_s": round(ours["parse_s"], 3), "views_s": {k: round(v, 3) for k, v in ours["views_s"].items()},
        "max_view_s": round(max(ours["views_s"].values()), 3),
        "dataflow_all_views_s": round(ours["dataflow_all_views_s"], 3), "cli_all_views_s": round(cli, 3),
        "peak_mib": round(ours["peak_mib"]), "original_json_load_s": round(original["json_load_s"], 3),
        "original_objects_s": round(original["objects_s"], 3),
        "original_pickle_dump_s": round(original["pickle_dump_s"], 3),
        "original_pickle_load_s": round(original["pickle_load_s"], 3),
        "original_peak_mib": round(original["peak_mib"]),
        "parse_ratio": round(original_parse / ours["parse_s"], 2),
    }))


if __name__ == "__main__":
    main()
