"""Benchmark what reading provenance adds to a delivery: the bot's reconcile with and without the item's events.

Against the emulator answering every request after ``--latency-ms`` (GitHub's round trip), each of
``--items`` PRs carries ``--events`` label events (the bot's and a person's); the bot reconciles each
once (its writes), then ``--rounds`` times more as a replayed delivery does (reads only). The baseline
is the same reconcile with provenance replaced by "nothing known" (the requests the bot made before it
read events), in the same run. Prints the p50 and p90 per delivery of both, the p50 added, the ratio,
the most event requests one reconcile made (the budget is 2), and ends with one line of JSON.

    .venv/bin/python bench/bot.py [--items 40] [--events 20] [--rounds 3] [--latency-ms 20] [--smoke]
"""
import argparse
import json
import os
import statistics
import time

from dffml_k8s_analysis.bot import reconcile, rules
from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

REPO = "kubernetes/kubernetes"
BOT, PERSON = "k8s-release-bot[bot]", "alice"
PREDICTION = {"note": "Fixed a panic in kubelet", "label": "kind/bug", "probability": 0.95, "threshold": 0.5,
              "act": 0.9, "band": "act", "words": ["panic"]}


def timed(url: str, numbers, rounds: int) -> list:
    took = []
    for _ in range(rounds):
        for number in numbers:
            started = time.perf_counter()
            reconcile.reconcile(url, REPO, number, PREDICTION)
            took.append(time.perf_counter() - started)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--events", type=int, default=20, help="label events per item before the bot's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a tiny run, for the test suite")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.events, args.rounds, args.latency_ms = 4, 5, 1, 0
    os.environ["GITHUB_TOKEN"] = "bot-token"
    config = EmulatorConfig(items=args.items * 3, use_notes=False, secondary_limits=False,
                            users={"bot-token": BOT}, latency_ms=args.latency_ms)
    with running(config) as server:
        sample = server.emulator.sample
        numbers = [n for n in range(1, sample.count + 1) if sample.is_pr[n]][:args.items]
        for number in numbers:  # a person's label history, none of it kind/*
            for index in range(args.events):
                sample.set_labels(number, ["sig/node", f"area/a{index % 3}"], 1_700_000_000 + index, PERSON)
        timed(server.url, numbers, 1)  # the bot's writes: labels and comments
        server.emulator.reset_stats()
        with_events = timed(server.url, numbers, args.rounds)
        events_requests = server.emulator.stats["by_route"].get("events_list", 0)
        known = reconcile.provenance
        reconcile.provenance = lambda issue, login: rules.Provenance(login, {})  # the baseline: no events read
        try:
            without = timed(server.url, numbers, args.rounds)
        finally:
            reconcile.provenance = known
    p50, base = statistics.median(with_events), statistics.median(without)
    figures = {"deliveries": len(with_events), "latency_ms": args.latency_ms, "events_per_item": args.events,
               "p50_ms": round(p50 * 1000, 2), "p90_ms": round(statistics.quantiles(with_events, n=10)[-1] * 1000, 2)
               if len(with_events) > 1 else round(p50 * 1000, 2),
               "baseline_p50_ms": round(base * 1000, 2), "added_p50_ms": round((p50 - base) * 1000, 2),
               "ratio": round(p50 / base, 3), "event_requests_per_delivery": events_requests / len(with_events)}
    print(f"reconcile of a replayed delivery, {figures['deliveries']} deliveries at {args.latency_ms} ms per request:")
    print(f"  with provenance p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms")
    print(f"  baseline (no events read) p50 {figures['baseline_p50_ms']} ms")
    print(f"  added p50 {figures['added_p50_ms']} ms, ratio {figures['ratio']}x; "
          f"event requests per delivery {figures['event_requests_per_delivery']:g} (budget 2)")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
