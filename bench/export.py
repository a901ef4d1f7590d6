"""Benchmark the export under GitHub's secondary limits, beside the floor they set and the original's method.

Serves N items (default 135,000, kubernetes/kubernetes' size) from the emulator at a seeded
300-700 ms per request, enforcing GitHub's secondary limits (900 points and 90 s of response
time per minute, 100 concurrent requests), then, in the same run:

- exports them all with ``k8s-analysis export`` (a subprocess, so its peak memory is measured
  alone) under those limits counted over windows of 10, 15, 30 and 60 s (``--windows``; GitHub
  documents the budgets per minute, not the windows it counts them over: a window of W s holds
  W/60 of each), a new emulator each, and compares the export's time with the floor GitHub's
  limits set for that many requests and that much response time: max(requests / 900 per min,
  response time / 90 s per min); ``--baseline REF`` also runs the export of git revision REF
  (e.g. the commit before a pacer's change) under the same windows;
- updates after ``--changed`` items change, counting requests;
- times the original's method, PyGithub's ``repo.get_issue(n)`` one number after another under
  the same limits, on ``--sample`` numbers, and extrapolates to N (also bounded by the 5,000
  requests an hour of the primary limit);
- the earlier row, for continuity: 91,000 items at 100 ms per request.

Prints a table and, last, one line of JSON. ``--smoke`` (the suite's size): 1,500 items, time divided
by 10 (a minute of 6 s, 50 +- 20 ms a request), no update, no original, no old row.

    .venv/bin/python bench/export.py [--items 135000] [--quick] [--windows 10,15,30,60] [--baseline REF]

``--backends sqlite,postgresql`` instead exports the same N items (default 91,000) from one
emulator into a new store of each backend, the same requests each time, with the secondary limits
and the client's pacing lifted so that the store's writing shows (``--latency-ms``, default 0),
``--repeat`` rounds (default 3) in alternating order, and prints the medians of items/s, requests
and wall per backend, the ratio to SQLite (the baseline) and one line of JSON. PostgreSQL: ``--postgres URI`` (its password in the file named by
K8S_ANALYSIS_DB_PASSWORD_FILE), else a throwaway server as the tests start one (tests/pg_server.py).

    .venv/bin/python bench/export.py --backends sqlite,postgresql [--items 91000]
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import re
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import github
import requests

from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

REPO = "kubernetes/kubernetes"
ROOT = Path(__file__).resolve().parents[1]
GITHUB_POINTS_PER_MIN = 900
GITHUB_RESPONSE_S_PER_MIN = 90
PRIMARY_PER_HOUR = 5000


def stats(url: str) -> dict:
    return requests.get(f"{url}/_emulator/stats").json()


def reset(url: str) -> None:
    requests.post(f"{url}/_emulator/reset-stats").raise_for_status()


def run_export(url: str, store, workers: int, *extra: str, env=None, code: Path = ROOT,
               timeout: Optional[float] = None) -> dict:
    """One ``k8s-analysis export`` run of the code under ``code``: its seconds, the emulator's counts, the floor.

    ``seconds``: the export's own (its summary line's, Python's start-up left out; the process's
    if it printed none); ``wall``: the process's. Past ``timeout`` it is stopped: ``timed_out``.
    """
    reset(url)
    started = time.perf_counter()
    env = dict(env or os.environ, PYTHONPATH=str(code))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dffml_k8s_analysis.cli.main", "export", "--repo", REPO, "--base-url", url,
             "--store", str(store), "--workers", str(workers), "--quiet", *extra],
            check=True, stdout=subprocess.PIPE, env=env, timeout=timeout, text=True)
        timed_out, summary = False, re.search(r" in ([0-9.]+) s$", done.stdout.strip())
    except subprocess.TimeoutExpired:
        timed_out, summary = True, None
    wall = time.perf_counter() - started
    seconds = float(summary.group(1)) if summary else wall
    counted = stats(url)
    floor = max(counted["requests"] / GITHUB_POINTS_PER_MIN, counted["response_s"] / GITHUB_RESPONSE_S_PER_MIN) * 60
    return {"seconds": seconds, "wall": wall, "timed_out": timed_out, "requests": counted["requests"],
            "secondary": counted["secondary_limited"], "sent_while_limited": counted["sent_while_limited"],
            "response_s": counted["response_s"], "floor": floor}


def limits_over(window_s: float, scale: float) -> dict:
    """The emulator's secondary limits of GitHub counted over windows of ``window_s`` (GitHub's) seconds,
    time multiplied by ``scale``: W/60 of the minute's budgets per window."""
    share = window_s / 60
    return {"secondary_window_s": window_s * scale, "secondary_points": round(GITHUB_POINTS_PER_MIN * share),
            "secondary_cpu_s": GITHUB_RESPONSE_S_PER_MIN * share * scale,
            "secondary_graphql_cpu_s": 60 * share * scale}


def under_windows(items: int, windows: List[float], workers: int, scale: float, baseline: Optional[Path],
                  tmp: str, then=None) -> List[dict]:
    """The export under each window (and the baseline's, if any), a new emulator and store each;
    ``then(server, store, env)`` after this code's export under the last window, on its emulator."""
    env = dict(os.environ, GITHUB_PACE_WINDOW_S=str(60 * scale))
    rows = []
    for window_s in windows:
        for name, code in [("new", ROOT)] + ([("baseline", baseline)] if baseline else []):
            config = EmulatorConfig(items=items, latency_ms=500 * scale, latency_spread_ms=200 * scale,
                                    rate_limit=10**9, **limits_over(window_s, scale))
            with running(config) as server:
                expected = items / 100 * 0.5 * scale * 60 / GITHUB_RESPONSE_S_PER_MIN  # about the floor
                store = Path(tmp, f"{name}-{window_s:g}.sqlite")
                run = run_export(server.url, store, workers, env=env, code=code, timeout=4 * expected + 120)
                if then and name == "new" and window_s == windows[-1]:
                    run["then"] = then(server, store, env)
            run.update(window_s=window_s, code=name, ratio=run["seconds"] / run["floor"])
            print(f"# window {window_s:g} s, {name}: {json.dumps(run)}", file=sys.stderr, flush=True)
            rows.append(run)
    return rows


def checkout(ref: str, tmp: str) -> Path:
    """The tree of git revision ``ref`` in a new directory under ``tmp``."""
    target = Path(tmp, "baseline")
    target.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def original_method(url: str, numbers) -> float:
    """Seconds per item of ``get_issue(n)`` one after another, as the original did.

    With a token of its own: the export's has just spent its minute of response time.
    """
    gh = github.Github(auth=github.Auth.Token("original"), base_url=url, seconds_between_requests=None)
    repo = gh.get_repo(REPO)
    started = time.perf_counter()
    for number in numbers:
        repo.get_issue(number).raw_data
    return (time.perf_counter() - started) / len(numbers)


def update_and_original(items: int, workers: int, changed: int, sample: int):
    """After an export: an update after ``changed`` items changed, and the original's method on ``sample`` items."""
    def then(server, store, env) -> dict:
        result = {"peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
        requests.post(f"{server.url}/_emulator/touch", json={"count": changed, "seed": 1}).raise_for_status()
        result["update"] = run_export(server.url, store, workers, "--update", env=env)
        reset(server.url)
        step = max(1, items // sample)
        result["original_per_item"] = original_method(server.url, range(1, items + 1, step)[:sample])
        result["original_secondary"] = stats(server.url)["secondary_limited"]
        return result
    return then


def old_row(items: int, workers: int, tmp: str) -> dict:
    """The earlier row, for continuity: ``items`` at 100 ms a request, GitHub's limits per minute."""
    with running(EmulatorConfig(items=items, latency_ms=100, rate_limit=10**9)) as server:
        return run_export(server.url, Path(tmp, f"old-row-{items}.sqlite"), workers)


@contextlib.contextmanager
def postgres(uri: str):
    """The PostgreSQL database to export into: ``uri``, or a new one on a throwaway server."""
    if uri:
        yield uri
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import pg_server

    server = pg_server.Server()
    if server.bin is None:
        raise SystemExit(pg_server.INSTALL)
    with server:
        os.environ["K8S_ANALYSIS_DB_PASSWORD_FILE"] = server.password_file
        yield server.create_database()


def drop_repository(uri: str) -> None:
    """Empty the PostgreSQL store of the repository, so that every run exports into a new one."""
    from dffml_k8s_analysis.store.postgres import Connection

    connection = Connection(uri, "bench")
    try:
        connection.query(f'DROP SCHEMA IF EXISTS "{REPO}" CASCADE')
    finally:
        connection.close()


def compare_backends(backends, items: int, latency_ms: float, workers: int, uri: str, repeat: int) -> None:
    """The same export into a new store of each backend, ``repeat`` rounds in alternating order; medians."""
    config = EmulatorConfig(items=items, latency_ms=latency_ms, rate_limit=10**9, secondary_limits=False)
    runs = {backend: [] for backend in backends}
    with running(config) as server, tempfile.TemporaryDirectory() as tmp, postgres(
            uri or ("" if "postgresql" in backends else "unused")) as database:
        unpaced = dict(os.environ, GITHUB_PACE_REST_POINTS="1000000", GITHUB_PACE_RESPONSE_S="1000000")
        for round_ in range(repeat):
            for backend in backends if round_ % 2 == 0 else backends[::-1]:
                store = Path(tmp, f"bench-{round_}.sqlite")
                if backend == "postgresql":
                    drop_repository(database)
                    store = database
                run = run_export(server.url, store, workers, env=unpaced)
                runs[backend].append(run)
                print(f"# {backend} round {round_ + 1}: {run['seconds']:.1f} s, {run['requests']} requests",
                      file=sys.stderr, flush=True)
    median = {backend: statistics.median(run["seconds"] for run in done) for backend, done in runs.items()}
    base = median[backends[0]]
    requests = {run["requests"] for done in runs.values() for run in done}
    result = {"items": items, "latency_ms": latency_ms, "workers": workers, "rounds": repeat,
              "baseline": backends[0], "same_requests": len(requests) == 1}
    print(f"{'backend':<12} {'items/s':>9} {'requests':>9} {'wall':>9} {'vs ' + backends[0]:>10}  (medians of {repeat})")
    for backend, seconds in median.items():
        rate = items / seconds
        count = runs[backend][0]["requests"]
        print(f"{backend:<12} {rate:>9.0f} {count:>9} {seconds:>8.1f}s {seconds / base:>9.2f}x")
        result[backend] = {"items_per_s": round(rate), "requests": count, "seconds": round(seconds, 1),
                           "wall_ratio": round(seconds / base, 3),
                           "all_seconds": [round(run["seconds"], 1) for run in runs[backend]]}
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--sample", type=int, default=60, help="items fetched the original way")
    parser.add_argument("--changed", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="a tenth of the items, a smaller sample")
    parser.add_argument("--smoke", action="store_true", help="the suite's size: 1,500 items, time divided by 10")
    parser.add_argument("--windows", default="10,15,30,60",
                        help="seconds of the windows GitHub's limits are counted over, GitHub's minute last")
    parser.add_argument("--baseline", metavar="REF", help="also export with git revision REF's code (e.g. HEAD~3)")
    parser.add_argument("--backends", help="comma-separated stores to compare, e.g. sqlite,postgresql")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="--backends: the emulator's latency")
    parser.add_argument("--postgres", default="", metavar="URI", help="--backends: the database (default: a throwaway)")
    parser.add_argument("--repeat", type=int, default=3, help="--backends: rounds, alternating the order (median)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if args.backends:
        backends = args.backends.split(",")
        if set(backends) - {"sqlite", "postgresql"}:
            parser.error(f"--backends takes sqlite and postgresql, got {args.backends}")
        compare_backends(backends, (args.items or 91000) // scale, args.latency_ms, args.workers, args.postgres,
                         args.repeat)
        return
    windows = [float(w) for w in args.windows.split(",")]
    if args.smoke:
        smoke(args.workers, windows)
        return
    items, old_items = (args.items or 135000) // scale, 91000 // scale
    sample = max(5, args.sample // scale)

    with tempfile.TemporaryDirectory() as tmp:
        baseline = checkout(args.baseline, tmp) if args.baseline else None
        rows = under_windows(items, windows, args.workers, 1, baseline, tmp,
                             update_and_original(items, args.workers, args.changed, sample))
        old = old_row(old_items, args.workers, tmp)

    export = next(row for row in rows if row["code"] == "new" and row["window_s"] == windows[-1])
    after = export.pop("then")
    update, per_item = after["update"], after["original_per_item"]
    original_seconds = max(per_item * items, items / PRIMARY_PER_HOUR * 3600)
    result = {
        "items": items,
        "latency_ms": "300-700",
        "workers": args.workers,
        "export_seconds": round(export["seconds"], 1),
        "export_requests": export["requests"],
        "requests_per_item": round(export["requests"] / items, 5),
        "floor_seconds": round(export["floor"], 1),
        "wall_over_floor": round(export["seconds"] / export["floor"], 3),
        "secondary_limited": export["secondary"] + update["secondary"],
        "sent_while_limited": export["sent_while_limited"] + update["sent_while_limited"],
        "response_seconds": round(export["response_s"], 1),
        "windows": window_figures(rows),
        "update_changed_items": args.changed,
        "update_requests": update["requests"],
        "update_seconds": round(update["seconds"], 1),
        "export_peak_rss_mib": round(after["peak_mib"]),
        "original_seconds_per_item": round(per_item, 4),
        "original_seconds_by_latency": round(per_item * items),
        "original_seconds_with_primary_limit": round(original_seconds),
        "original_secondary_limited": after["original_secondary"],
        "speedup_vs_original": round(original_seconds / export["seconds"], 1),
        "old_row_items": old_items,
        "old_row_seconds": round(old["seconds"], 1),
        "old_row_requests": old["requests"],
        "old_row_floor_seconds": round(old["floor"], 1),
        "old_row_secondary_limited": old["secondary"],
    }
    print_windows(rows, args.baseline)
    table = [
        ("method", "requests", "export", "floor", "limited"),
        (f"update after {args.changed} changes", f"{update['requests']}", f"{update['seconds']:.1f} s",
         f"{update['floor']:.1f} s", f"{update['secondary']}"),
        (f"original get_issue(n) (from {sample})", f"{items}",
         f"{original_seconds:.0f} s", f"{items / PRIMARY_PER_HOUR * 3600:.0f} s", f"{after['original_secondary']}"),
        (f"export {old_items:,} items, 100 ms (old row)", f"{old['requests']}",
         f"{old['seconds']:.0f} s", f"{old['floor']:.0f} s", f"{old['secondary']}"),
    ]
    for row in table:
        print(f"{row[0]:<42} {row[1]:>9} {row[2]:>10} {row[3]:>9} {row[4]:>8}")
    print(f"export/floor {result['wall_over_floor']} (windows of {windows[-1]:g} s), requests/item "
          f"{result['requests_per_item']}, speed-up x{result['speedup_vs_original']} over the original, "
          f"peak memory {result['export_peak_rss_mib']} MiB")
    print(json.dumps(result))


def window_figures(rows: List[dict]) -> dict:
    """``{code: {window: {seconds, floor, ratio, secondary_limited, timed_out}}}`` for the JSON line."""
    figures: dict = {}
    for row in rows:
        figures.setdefault(row["code"], {})[f"{row['window_s']:g}"] = {
            "seconds": round(row["seconds"], 1), "floor": round(row["floor"], 1), "ratio": round(row["ratio"], 3),
            "requests": row["requests"], "secondary_limited": row["secondary"], "timed_out": row["timed_out"]}
    return figures


def print_windows(rows: List[dict], baseline: Optional[str]) -> None:
    """The table of the export under each window: seconds, floor, their ratio, refusals."""
    print(f"{'window':>7} {'code':<{max(8, len(baseline or ''))}} {'export':>9} {'floor':>8} {'ratio':>7} "
          f"{'limited':>8} {'requests':>9}")
    for row in rows:
        code = baseline if row["code"] == "baseline" else "new"
        late = " (stopped)" if row["timed_out"] else ""
        print(f"{row['window_s']:>6g}s {code:<{max(8, len(baseline or ''))}} {row['seconds']:>8.1f}s "
              f"{row['floor']:>7.1f}s {row['ratio']:>6.3f}x {row['secondary']:>8} {row['requests']:>9}{late}")


def smoke(workers: int, windows: List[float]) -> None:
    """The suite's size: 1,500 items, time divided by 10; the windows' table and one line of JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = under_windows(1500, windows, workers, 0.1, None, tmp)
    print_windows(rows, None)
    print(json.dumps({"items": 1500, "time_scale": 0.1, "workers": workers, "windows": window_figures(rows)}))


if __name__ == "__main__":
    main()
