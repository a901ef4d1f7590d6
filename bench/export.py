"""Benchmark the export under GitHub's secondary limits, beside the floor they set and the original's method.

Serves N items (default 135,000, kubernetes/kubernetes' size) from the emulator at a seeded
300-700 ms per request, enforcing GitHub's secondary limits (900 points and 90 s of response
time per minute, 100 concurrent requests), then, in the same run:

- exports them all with ``k8s-analysis export`` (a subprocess, so its peak memory is measured
  alone), and compares its wall time with the floor GitHub's limits set for that many requests
  and that much response time: max(requests / 900 per min, response time / 90 s per min);
- updates after ``--changed`` items change, counting requests;
- times the original's method, PyGithub's ``repo.get_issue(n)`` one number after another under
  the same limits, on ``--sample`` numbers, and extrapolates to N (also bounded by the 5,000
  requests an hour of the primary limit);
- the earlier row, for continuity: 91,000 items at 100 ms per request.

Prints a table and, last, one line of JSON.

    .venv/bin/python bench/export.py [--items 135000] [--quick]

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
import tempfile
import time
from pathlib import Path

import github
import requests

from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

REPO = "kubernetes/kubernetes"
BIN = Path(sys.executable).parent
GITHUB_POINTS_PER_MIN = 900
GITHUB_RESPONSE_S_PER_MIN = 90
PRIMARY_PER_HOUR = 5000


def stats(url: str) -> dict:
    return requests.get(f"{url}/_emulator/stats").json()


def reset(url: str) -> None:
    requests.post(f"{url}/_emulator/reset-stats").raise_for_status()


def run_export(url: str, store, workers: int, *extra: str, env=None) -> dict:
    """One ``k8s-analysis export`` run: wall seconds, the emulator's counts, and the floor."""
    reset(url)
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", url, "--store", str(store),
         "--workers", str(workers), "--quiet", *extra],
        check=True, stdout=subprocess.DEVNULL, env=env,
    )
    seconds = time.perf_counter() - started
    counted = stats(url)
    floor = max(counted["requests"] / GITHUB_POINTS_PER_MIN, counted["response_s"] / GITHUB_RESPONSE_S_PER_MIN) * 60
    return {"seconds": seconds, "requests": counted["requests"], "secondary": counted["secondary_limited"],
            "sent_while_limited": counted["sent_while_limited"], "response_s": counted["response_s"],
            "floor": floor}


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


def export_under_limits(items: int, latency_ms: float, spread_ms: float, workers: int, changed: int,
                        sample: int, tmp: str) -> dict:
    """Export, update and the original's method against one emulator."""
    config = EmulatorConfig(items=items, latency_ms=latency_ms, latency_spread_ms=spread_ms, rate_limit=10**9)
    with running(config) as server:
        store = Path(tmp, f"export-{items}-{latency_ms:.0f}.sqlite")
        export = run_export(server.url, store, workers)
        print(f"# export of {items} items: {json.dumps(export)}", file=sys.stderr, flush=True)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = {"items": items, "export": export, "peak_mib": peak_mib}
        if changed:
            requests.post(f"{server.url}/_emulator/touch", json={"count": changed, "seed": 1}).raise_for_status()
            result["update"] = run_export(server.url, store, workers, "--update")
        if sample:
            reset(server.url)
            step = max(1, items // sample)
            result["original_per_item"] = original_method(server.url, range(1, items + 1, step)[:sample])
            result["original_secondary"] = stats(server.url)["secondary_limited"]
    return result


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
    parser.add_argument("--backends", help="comma-separated stores to compare, e.g. sqlite,postgresql")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="--backends: the emulator's latency")
    parser.add_argument("--postgres", default="", metavar="URI", help="--backends: the database (default: a throwaway)")
    parser.add_argument("--repeat", type=int, default=3, help="--backends: rounds, alternating the order (median)")
    parser.add_argument("--smoke", action="store_true", help="a tiny size: the test suite checks that it runs")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if args.backends:
        backends = args.backends.split(",")
        if set(backends) - {"sqlite", "postgresql"}:
            parser.error(f"--backends takes sqlite and postgresql, got {args.backends}")
        compare_backends(backends, (args.items or 91000) // scale, args.latency_ms, args.workers, args.postgres,
                         args.repeat)
        return
    items, old_items = (args.items or 135000) // scale, 91000 // scale
    if args.smoke:
        items, old_items, args.sample, args.changed = 1000, 1000, 5, 20

    with tempfile.TemporaryDirectory() as tmp:
        main_run = export_under_limits(items, 500, 200, args.workers, args.changed, max(5, args.sample // scale), tmp)
        old_run = export_under_limits(old_items, 100, 0, args.workers, 0, 0, tmp)

    export, update = main_run["export"], main_run["update"]
    per_item = main_run["original_per_item"]
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
        "update_changed_items": args.changed,
        "update_requests": update["requests"],
        "update_seconds": round(update["seconds"], 1),
        "export_peak_rss_mib": round(main_run["peak_mib"]),
        "original_seconds_per_item": round(per_item, 4),
        "original_seconds_by_latency": round(per_item * items),
        "original_seconds_with_primary_limit": round(original_seconds),
        "original_secondary_limited": main_run["original_secondary"],
        "speedup_vs_original": round(original_seconds / export["seconds"], 1),
        "old_row_items": old_items,
        "old_row_seconds": round(old_run["export"]["seconds"], 1),
        "old_row_requests": old_run["export"]["requests"],
        "old_row_floor_seconds": round(old_run["export"]["floor"], 1),
        "old_row_secondary_limited": old_run["export"]["secondary"],
    }
    rows = [
        ("method", "requests", "wall", "floor", "limited"),
        (f"export {items:,} items, 300-700 ms", f"{export['requests']}", f"{export['seconds']:.0f} s",
         f"{export['floor']:.0f} s", f"{export['secondary']}"),
        (f"update after {args.changed} changes", f"{update['requests']}", f"{update['seconds']:.1f} s",
         f"{update['floor']:.1f} s", f"{update['secondary']}"),
        (f"original get_issue(n) (from {max(5, args.sample // scale)})", f"{items}",
         f"{original_seconds:.0f} s", f"{items / PRIMARY_PER_HOUR * 3600:.0f} s", f"{main_run['original_secondary']}"),
        (f"export {old_items:,} items, 100 ms (old row)", f"{old_run['export']['requests']}",
         f"{old_run['export']['seconds']:.0f} s", f"{old_run['export']['floor']:.0f} s",
         f"{old_run['export']['secondary']}"),
    ]
    for row in rows:
        print(f"{row[0]:<42} {row[1]:>9} {row[2]:>10} {row[3]:>9} {row[4]:>8}")
    print(f"wall/floor {result['wall_over_floor']}, requests/item {result['requests_per_item']}, "
          f"speed-up x{result['speedup_vs_original']} over the original, peak memory {result['export_peak_rss_mib']} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
