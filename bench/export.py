"""Benchmark the export against the original's one-request-per-item method.

Serves N items (default 91,000, kubernetes-analysis' size) from the emulator
with a fixed latency per request, then, in the same run:

- exports them all with ``k8s-analysis export`` (a subprocess, so its peak
  memory is measured alone), ``--repeat`` times on a fresh store;
- updates after ``--changed`` items change, counting requests;
- times the original's method, PyGithub's ``repo.get_issue(n)`` for one number
  after another, on ``--sample`` numbers, and extrapolates to N.

Prints a table and, last, one line of JSON with the medians.

    .venv/bin/python bench/export.py [--items 91000] [--latency-ms 100]
"""
import argparse
import json
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


def stats(url: str) -> dict:
    return requests.get(f"{url}/_emulator/stats").json()


def reset(url: str) -> None:
    requests.post(f"{url}/_emulator/reset-stats").raise_for_status()


def run_export(url: str, store: Path, workers: int, *extra: str) -> dict:
    """One ``k8s-analysis export`` run: wall seconds and API requests."""
    reset(url)
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", url, "--store", str(store),
         "--workers", str(workers), "--quiet", *extra],
        check=True, stdout=subprocess.DEVNULL,
    )
    return {"seconds": time.perf_counter() - started, "requests": stats(url)["requests"]}


def original_method(url: str, numbers) -> float:
    """Seconds per item of ``get_issue(n)`` one after another, as the original did."""
    repo = github.Github(base_url=url, seconds_between_requests=None).get_repo(REPO)
    started = time.perf_counter()
    for number in numbers:
        repo.get_issue(number).raw_data
    return (time.perf_counter() - started) / len(numbers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=91000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=100, help="items fetched the original way")
    parser.add_argument("--changed", type=int, default=500)
    args = parser.parse_args()

    config = EmulatorConfig(items=args.items, latency_ms=args.latency_ms, rate_limit=10**9)
    with running(config) as server, tempfile.TemporaryDirectory() as tmp:
        runs = [run_export(server.url, Path(tmp, f"run{i}.sqlite"), args.workers) for i in range(args.repeat)]
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        store = Path(tmp, f"run{args.repeat - 1}.sqlite")
        requests.post(f"{server.url}/_emulator/touch", json={"count": args.changed, "seed": 1}).raise_for_status()
        update = run_export(server.url, store, args.workers, "--update")
        step = max(1, args.items // args.sample)
        per_item = original_method(server.url, range(1, args.items + 1, step)[: args.sample])

    seconds = statistics.median(r["seconds"] for r in runs)
    requests_used = statistics.median(r["requests"] for r in runs)
    original_seconds = per_item * args.items
    result = {
        "items": args.items,
        "latency_ms": args.latency_ms,
        "workers": args.workers,
        "export_seconds_median": round(seconds, 2),
        "export_seconds_runs": [round(r["seconds"], 2) for r in runs],
        "export_requests": requests_used,
        "requests_per_item": round(requests_used / args.items, 5),
        "items_per_second": round(args.items / seconds),
        "original_seconds_per_item": round(per_item, 4),
        "original_seconds_extrapolated": round(original_seconds),
        "original_requests": args.items,
        "speedup_vs_original": round(original_seconds / seconds, 1),
        "update_changed_items": args.changed,
        "update_requests": update["requests"],
        "update_seconds": round(update["seconds"], 2),
        "export_peak_rss_mib": round(peak_mib),
    }
    rows = [
        ("method", "requests", "wall time", "items/s"),
        ("k8s-analysis export (median)", f"{requests_used:.0f}", f"{seconds:.1f} s", f"{args.items / seconds:.0f}"),
        (f"original get_issue(n) (from {args.sample})", f"{args.items}", f"{original_seconds:.0f} s",
         f"{1 / per_item:.1f}"),
        (f"update after {args.changed} changes", f"{update['requests']}", f"{update['seconds']:.1f} s", ""),
    ]
    for row in rows:
        print(f"{row[0]:<40} {row[1]:>9} {row[2]:>10} {row[3]:>8}")
    print(f"requests/item {result['requests_per_item']}, speed-up x{result['speedup_vs_original']}, "
          f"peak memory {result['export_peak_rss_mib']} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
