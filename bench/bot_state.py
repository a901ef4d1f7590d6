"""Benchmark the bot's memory on each store: what a webhook delivery costs in bookkeeping.

For each backend, ``--deliveries`` new deliveries are recorded as the webhook
does before answering 202 (``receive``), then taken up as a worker does
(``handle`` without the labelling: look the delivery up, take the item's lease,
check it is still queued and not older than what was applied, renew the lease
once as a working holder does, record it applied and done, release the lease). Prints the median and p99 of each per
delivery on SQLite (the embedded default, the baseline) and PostgreSQL, the
ratio, and ends with one line of JSON. PostgreSQL: ``--postgres URI``, else a
throwaway server as the tests start one.

    .venv/bin/python bench/bot_state.py [--deliveries 1000] [--smoke]
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
    await state.close()
    return {name: {"p50_ms": round(statistics.median(times) * 1000, 3),
                   "p99_ms": round(sorted(times)[int(len(times) * 0.99)] * 1000, 3)}
            for name, times in (("receive", received), ("handle", handled))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--postgres", default="", metavar="URI", help="the database (default: a throwaway)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (20 deliveries) that the suite runs")
    args = parser.parse_args()
    if args.smoke:
        args.deliveries = 20
    with tempfile.TemporaryDirectory() as tmp, postgres(args.postgres) as uri:
        specs = {"sqlite": str(Path(tmp) / "bot.sqlite"), "postgresql": f"{uri}#{REPO}"}
        results = {}
        for backend, spec in specs.items():
            results[backend] = asyncio.run(deliveries(BotState(spec), args.deliveries))
    print(f"{args.deliveries} deliveries, per delivery     p50 ms    p99 ms")
    for backend, figures in results.items():
        for step, values in figures.items():
            print(f"  {backend:<11} {step:<14} {values['p50_ms']:>8.3f}  {values['p99_ms']:>8.3f}")
    ratios = {step: round(results["postgresql"][step]["p50_ms"] / results["sqlite"][step]["p50_ms"], 2)
              for step in ("receive", "handle")}
    print(f"PostgreSQL / SQLite (baseline), p50: receive {ratios['receive']}x, handle {ratios['handle']}x")
    print(json.dumps({"deliveries": args.deliveries, "results": results, "ratio_p50": ratios}))


if __name__ == "__main__":
    main()
