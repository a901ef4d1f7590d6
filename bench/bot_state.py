"""Benchmark the bot's memory on each store: what a webhook delivery costs in bookkeeping.

For each backend, ``--deliveries`` new deliveries are recorded as the webhook
does before answering 202 (``receive``), then taken up as a worker does
(``handle`` without the labelling: look the delivery up, take the item's lease,
check it is still queued and not older than what was applied, renew the lease
once as a working holder does, record it applied and done, release the lease). Prints the median and p99 of each per
delivery on SQLite (the embedded default, the baseline) and PostgreSQL, the
ratio, and ends with one line of JSON. Then, with ``--backlog`` deliveries
left queued (a queue that GitHub's outage filled: none of them is ever pruned, and
each receive counts them against ``MAX_QUEUED``), the median receive again, with
its ratio to the receive on an empty queue of the same run. PostgreSQL: ``--postgres URI``, else a
throwaway server as the tests start one.

    .venv/bin/python bench/bot_state.py [--deliveries 1000] [--backlog 10000] [--smoke]
"""
import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import postgres  # noqa: E402  (a throwaway PostgreSQL server, as bench/export.py uses)

from dffml_k8s_analysis.bot.state import LEASE_S, BotState  # noqa: E402
from dffml_k8s_analysis.store import named, open_store  # noqa: E402

REPO = "kubernetes/kubernetes"


async def deliveries(state: BotState, count: int) -> dict:
    received, handled = [], []
    for index in range(count):
        delivery, number, updated_at = f"d{index}", index % 200, f"2024-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}Z"
        started = time.perf_counter()
        assert await state.receive(delivery, REPO, number, updated_at)
        received.append(time.perf_counter() - started)
        started = time.perf_counter()
        job = await state.delivery(delivery)
        key = job["repo"], job["number"]
        holder = await state.take(*key, time.time() + LEASE_S)
        assert holder
        assert (await state.delivery(delivery))["state"] == "queued"
        assert not await state.older_than_applied(*key, job["updated_at"])
        assert await state.renew(*key, holder, time.time() + LEASE_S)
        await state.applied(*key, job["updated_at"])
        await state.finish(delivery, "done", {"label": "added"})
        await state.release(*key, holder)
        handled.append(time.perf_counter() - started)
    return figures(("receive", received), ("handle", handled))


def figures(*named_times) -> dict:
    return {name: {"p50_ms": round(statistics.median(times) * 1000, 3),
                   "p99_ms": round(sorted(times)[int(len(times) * 0.99)] * 1000, 3)}
            for name, times in named_times}


async def backlogged(state: BotState, spec: str, backlog: int, count: int) -> dict:
    """Receive ``count`` deliveries with ``backlog`` left queued."""
    with open_store(named(spec), create=True) as db, db.transaction():
        db.executemany("INSERT INTO deliveries (id, received, repo, number, updated_at, state) "
                       "VALUES (?, ?, ?, ?, NULL, 'queued')", [(f"b{index}", index, REPO, index) for index in range(backlog)])
    received = []
    for index in range(count):
        started = time.perf_counter()
        assert await state.receive(f"late{index}", REPO, index, None)
        received.append(time.perf_counter() - started)
    await state.close()
    return figures(("receive_backlogged", received))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--postgres", default="", metavar="URI", help="the database (default: a throwaway)")
    parser.add_argument("--backlog", type=int, default=9_000, help="deliveries left queued for the last step")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (20 deliveries, 50 queued) that the suite runs")
    args = parser.parse_args()
    if args.smoke:
        args.deliveries, args.backlog = 20, 50
    with tempfile.TemporaryDirectory() as tmp, postgres(args.postgres) as uri:
        specs = {"sqlite": str(Path(tmp) / "bot.sqlite"), "postgresql": f"{uri}#{REPO}"}
        results = {}
        for backend, spec in specs.items():
            state = BotState(spec)
            results[backend] = asyncio.run(deliveries(state, args.deliveries))
            results[backend].update(asyncio.run(backlogged(state, spec, args.backlog, args.deliveries)))
    print(f"{args.deliveries} deliveries, per delivery         p50 ms    p99 ms")
    for backend, figures in results.items():
        for step, values in figures.items():
            print(f"  {backend:<11} {step:<18} {values['p50_ms']:>8.3f}  {values['p99_ms']:>8.3f}")
    ratios = {step: round(results["postgresql"][step]["p50_ms"] / results["sqlite"][step]["p50_ms"], 2)
              for step in ("receive", "handle")}
    print(f"PostgreSQL / SQLite (baseline), p50: receive {ratios['receive']}x, handle {ratios['handle']}x")
    backlog = {backend: round(figures["receive_backlogged"]["p50_ms"] / figures["receive"]["p50_ms"], 2)
               for backend, figures in results.items()}
    print(f"receive with {args.backlog} queued / on an empty queue (baseline), p50: "
          + ", ".join(f"{backend} {ratio}x" for backend, ratio in backlog.items()))
    print(json.dumps({"deliveries": args.deliveries, "backlog": args.backlog, "results": results, "ratio_p50": ratios,
                      "backlog_ratio_p50": backlog}))


if __name__ == "__main__":
    main()
