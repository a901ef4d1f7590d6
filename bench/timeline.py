"""Benchmark the timeline walk: GraphQL points, requests and wall time beside the floor GitHub's limits set.

Serves N items (default 135,000, kubernetes/kubernetes' size) from the emulator with GitHub's
secondary limits, exports them (no latency: not what is measured), then at a seeded 300-700 ms per
request (``--latency-ms`` +- ``--spread-ms``), in the same run:

- walks every item's timeline (``export --timeline-only``, a subprocess: its peak memory alone);
- walks who closed what (``export --closers-only``), the walk it folds in: the baseline;
- changes ``--changed`` items and walks again (``export --update --timeline``), counting its points.

Points are the emulator's own count (GitHub's formula, see dffml_k8s_analysis/emulator/graphql.py).
The floor is the longest wait GitHub's limits impose on that many points and requests: 5,000 points an
hour (primary: only the points past the first hour's budget wait), 2,000 queries a minute
(secondary), 60 s of GraphQL response time a minute (secondary, counted as the sum of the response
times). Wall time is the walk's own (its summary line's: Python's start-up left out). Target: at
most 0.02 points an item.

Prints a table and, last, one line of JSON. ``--smoke`` (the suite's size): 1,500 items, 50 +- 20 ms.

    .venv/bin/python bench/timeline.py [--items 135000] [--changed 1000]
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

REPO = "kubernetes/kubernetes"
ROOT = Path(__file__).resolve().parents[1]
POINTS_PER_HOUR = 5000
QUERIES_PER_MIN = 2000
GRAPHQL_RESPONSE_S_PER_MIN = 60
TARGET_PER_ITEM = 0.02


def admin(url: str, method: str, route: str, **body):
    answer = requests.request(method, f"{url}/_emulator/{route}", json=body or None)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def walk(url: str, store: str, *args: str) -> dict:
    """One ``k8s-analysis export`` run: the emulator's GraphQL counts, its wall time and peak memory."""
    admin(url, "POST", "reset-stats")
    before = admin(url, "GET", "stats")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dffml_k8s_analysis.cli.main", "export", "--repo", REPO,
                           "--base-url", url, "--store", store, "--quiet", *args],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"export {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    after = admin(url, "GET", "stats")
    requests_sent = after["by_route"].get("graphql", 0)
    points = before["graphql_remaining"] - after["graphql_remaining"]
    response_s = after["response_s"]
    floor = max(max(0, points - POINTS_PER_HOUR) / POINTS_PER_HOUR * 3600, requests_sent / QUERIES_PER_MIN * 60,
                response_s / GRAPHQL_RESPONSE_S_PER_MIN * 60)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    own = re.findall(r" in ([0-9.]+) s", line)  # the last walk's seconds
    return {"points": points, "requests": requests_sent, "wall_s": float(own[-1]) if own else round(wall, 1),
            "process_s": round(wall, 1), "floor_s": round(floor, 1),
            "response_s": round(response_s, 1), "secondary_limited": after["secondary_limited"],
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "line": line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=135000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=500)
    parser.add_argument("--spread-ms", type=float, default=200)
    parser.add_argument("--smoke", action="store_true", help="the suite's size: 1,500 items, 50 +- 20 ms")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.changed, args.latency_ms, args.spread_ms = 1500, 100, 50, 20
    config = EmulatorConfig(items=args.items, use_notes=False, rate_reset_s=86400.0, rate_limit=10**9)
    with running(config) as server, tempfile.TemporaryDirectory() as scratch:
        store = str(Path(scratch) / "k.sqlite")
        walk(server.url, store)  # the items, fast: only the walks below are measured
        admin(server.url, "PATCH", "config", latency_ms=args.latency_ms, latency_spread_ms=args.spread_ms)
        full = walk(server.url, store, "--timeline-only")
        closers = walk(server.url, store, "--closers-only")
        admin(server.url, "POST", "touch", count=args.changed, seed=11)
        update = walk(server.url, store, "--update", "--timeline")
    rows = [("timeline, full", full), ("closers, full (baseline)", closers),
            (f"timeline, update after {args.changed} changes", update)]
    print(f"{args.items} items, {args.latency_ms:g} +- {args.spread_ms:g} ms a request")
    print(f"{'walk':<40}{'points':>8}{'per item':>10}{'requests':>10}{'wall s':>9}{'floor s':>9}{'wall/floor':>11}")
    for name, run in rows:
        per_item = run["points"] / args.items
        print(f"{name:<40}{run['points']:>8}{per_item:>10.4f}{run['requests']:>10}{run['wall_s']:>9}"
              f"{run['floor_s']:>9}{run['wall_s'] / max(run['floor_s'], 0.1):>11.2f}")
    for name, run in rows:
        print(f"# {name}: {run.pop('line')}", file=sys.stderr)
    result = {"items": args.items, "latency_ms": args.latency_ms, "spread_ms": args.spread_ms,
              "target_points": round(args.items * TARGET_PER_ITEM), "timeline": full, "closers": closers,
              "update": dict(update, changed=args.changed),
              "points_per_item": round(full["points"] / args.items, 5),
              "ratio_to_closers": round(full["points"] / max(closers["points"], 1), 2),
              "within_target": full["points"] <= args.items * TARGET_PER_ITEM}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
