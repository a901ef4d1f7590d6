"""Benchmark what the store registry and a running canary cost a prediction, against the model directory.

Starts ``k8s-analysis serve`` in a subprocess three times on the same trained model:

- the baseline: ``--models DIR``, the model directory (today's way);
- ``--models STORE``, the version promoted in a SQLite store, no canary (asked every 2 s);
- the same store with a canary (a copy of the model) at share 0.5: both models answer each
  request, and one instance of each is recorded in ``canary_observations`` until this one
  client's bound (``model.canary.MAX_PER_CLIENT``) is reached.

``--clients`` concurrent clients send real release notes (``bench/serve.py``'s load), at most
``--requests`` or ``--seconds`` per server after a warm-up. Prints p50, p99 and requests/s of
each and the ratios to the baseline, and ends with one line of JSON.

    .venv/bin/python bench/canary.py [--model-dir out/model] [--clients 4]
    .venv/bin/python bench/canary.py --smoke --model-dir DIR   # a tiny run, as the suite does
"""
import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import load, ours, texts, trained_model  # noqa: E402  (bench/serve.py, beside this script)

from dffml_k8s_analysis.model.registry import StoreRegistry  # noqa: E402


def registry_store(model_dir: str, scratch: Path, canary: bool) -> str:
    """A SQLite store holding ``model_dir`` as the serving version (and a copy as the canary)."""
    spec = str(scratch / f"registry-{'canary' if canary else 'plain'}.sqlite")
    models = StoreRegistry(spec)
    for stamp in ("v1", "v2") if canary else ("v1",):
        copy = scratch / f"candidate-{spec[-12:]}-{stamp}" / stamp
        shutil.copytree(model_dir, str(copy))
        models.add(str(copy), {"bench": stamp})
    models.promote("v1")
    if canary:
        models.start_canary("v2", 0.5, 3600)
    return spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="out/model")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="at most this many per server")
    parser.add_argument("--seconds", type=float, default=15.0, help="at most this long per server")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: 2 clients, 20 requests, 5 s per server")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.requests, args.seconds = 2, 20, 5.0
    notes = texts()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = trained_model(args.model_dir, scratch, args.smoke)
        specs = {"directory": model_dir, "store": registry_store(model_dir, Path(scratch), False),
                 "store+canary": registry_store(model_dir, Path(scratch), True)}
        for name, spec in specs.items():
            process, url, body, read = ours(spec)
            try:
                asyncio.run(load(url, body, read, notes, args.clients, min(50, args.requests), args.seconds))  # warm up
                results[name] = asyncio.run(load(url, body, read, notes, args.clients, args.requests, args.seconds))
            finally:
                process.terminate()
                process.wait(timeout=30)
    base = results["directory"]
    print(f"loopback, model {model_dir}, {args.clients} clients")
    print(f"{'--models':<14} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50 / dir':>9}")
    for name, row in results.items():
        row["p50_ratio"] = round(row["p50_ms"] / base["p50_ms"], 2)
        print(f"{name:<14} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8} {row['p99_ms']:>8} "
              f"{row['rps']:>8} {row['p50_ratio']:>9}")
    print(json.dumps({"clients": args.clients, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
