"""Benchmark the prediction service against DFFML's stock model route, on loopback.

Starts, each in a subprocess and on the same trained model directory:

- ours: ``k8s-analysis serve``, ``POST /v1/models/kubernetes-analysis:predict``
  with ``{"text": ...}``;
- the baseline: ``dffml service http server -models kubernetes_analysis=k8s-mlp``,
  ``POST /model/kubernetes_analysis/predict/0`` with one record.

After checking that both answer the same probabilities, 1, 4 and 8
concurrent clients (one asyncio process) send real release notes, at most
``--requests`` requests or ``--seconds`` seconds per server and concurrency. Prints p50 (the median),
p99 and requests/s of each, the ratios and the targets (p50 <= 10 ms and
>= 200 requests/s, checked at ``--clients``, default 4: with more clients than
cores p50 measures queueing), and ends with one line of JSON.

    .venv/bin/python bench/serve.py [--model-dir out/model] [--clients 8]

Without a trained --model-dir it trains one into a temporary directory first
(``k8s-analysis train``, on the shared release notes).
"""
import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

from dffml_k8s_analysis.model.examples import EXAMPLES
from dffml_k8s_analysis.records import shared_data

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 10.0
TARGET_RPS = 200.0
DFFML_LABEL = "kubernetes_analysis"


def texts(count: int = 500):
    notes = shared_data.load_notes()
    if not notes:
        return [text for text, _ in EXAMPLES]
    return [note["text"] for note in random.Random(0).sample(notes, min(count, len(notes)))]


def start(command, stream: str, ready: str):
    """Start a server; read its ``stream`` until a line containing ``ready``, then keep draining it.

    Returns the process and the lines read.
    """
    process = subprocess.Popen(command, cwd=str(ROOT), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = getattr(process, stream)
    seen = []
    for line in lines:
        seen.append(line)
        if ready in line:
            break
    else:
        process.kill()
        sys.exit(f"bench: {command[0]} did not start:\n{''.join(seen)}{process.stderr.read()}")
    for pipe in (process.stdout, process.stderr):
        threading.Thread(target=pipe.read, daemon=True).start()
    return process, seen


def ours(model_dir: str):
    process, lines = start([str(BIN / "k8s-analysis"), "serve", "--model-dir", model_dir, "--port", "0"],
                           "stdout", "serve: model ")
    url = next(line for line in lines if " on http://" in line).split(" on ")[1].strip()
    if "model ready" not in lines[-1]:
        process.kill()
        sys.exit(f"bench: {lines[-1].strip()}")
    return process, url + "/v1/models/kubernetes-analysis:predict", lambda text: {"text": text}, lambda data: data["result"]


def dffml(model_dir: str):
    process, lines = start([str(BIN / "dffml"), "service", "http", "server", "-insecure", "-port", "0", "-log", "info",
                            "-models", f"{DFFML_LABEL}=k8s-mlp", f"-model-{DFFML_LABEL}-directory", model_dir],
                           "stderr", "Serving on")
    port = lines[-1].rsplit(":", 1)[1].strip()

    def read(data):
        record = data["records"]["0"]["prediction"]["kind/bug"]
        return record["confidence"] if record["value"] else 1 - record["confidence"]

    return (process, f"http://127.0.0.1:{port}/model/{DFFML_LABEL}/predict/0",
            lambda text: {"0": {"features": {"release_note": text}}}, read)


async def load(url: str, body, read, notes, clients: int, requests: int, seconds: float) -> dict:
    """Latencies (ms) and throughput of ``clients`` concurrent clients."""
    latencies, errors, sent = [], 0, 0
    deadline = time.perf_counter() + seconds

    async def client(session):
        nonlocal errors, sent
        while sent < requests and time.perf_counter() < deadline:
            text = notes[sent % len(notes)]
            sent += 1
            began = time.perf_counter()
            async with session.post(url, json=body(text)) as answer:
                data = await answer.json()
            if answer.status != 200:
                errors += 1
                continue
            read(data)
            latencies.append((time.perf_counter() - began) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        began = time.perf_counter()
        await asyncio.gather(*[client(session) for _ in range(clients)])
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "rps": round(len(latencies) / elapsed, 1)}


async def same_answers(targets, notes) -> float:
    """The largest difference between the two servers' probabilities on the same notes."""
    async with aiohttp.ClientSession() as session:
        answers = []
        for _, url, body, read in targets:
            got = []
            for text in notes:
                async with session.post(url, json=body(text)) as answer:
                    got.append(read(await answer.json()))
            answers.append(got)
    return max(abs(a - b) for a, b in zip(*answers))


def trained_model(model_dir: str, scratch: str, smoke: bool = False) -> str:
    if (Path(model_dir) / "predictor.json").exists():
        return model_dir
    model_dir = str(Path(scratch) / "model")
    if smoke:  # a tiny model of the emulator's notes, in seconds: the benchmark's path runs, its figures mean nothing
        from dffml_k8s_analysis.emulator.sample import Sample
        from dffml_k8s_analysis.model import artifacts, classifier
        from dffml_k8s_analysis.records import parse

        records = [parse.record(Sample(600, seed=5).item(number, "")) for number in range(1, 601)]
        notes = [(r["release_note"], r["labels"]) for r in records if r["release_note"]]
        params = classifier.Params(min_df=1, top_k=2000, units=8, epochs=2, validation=0.25)
        predictor, validation = classifier.train([t for t, _ in notes], [l for _, l in notes], ["kind/bug"], params)
        artifacts.save(Path(model_dir), predictor, {"validation": validation})
        return model_dir
    print(f"bench: no model in the given --model-dir; training one into {model_dir}", file=sys.stderr)
    subprocess.run([str(BIN / "k8s-analysis"), "train", "--model-dir", model_dir], cwd=str(ROOT), check=True)
    return model_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="out/model")
    parser.add_argument("--clients", type=int, default=4, help="the concurrency the targets are checked at")
    parser.add_argument("--requests", type=int, default=2000, help="at most this many per server and concurrency")
    parser.add_argument("--smoke", action="store_true", help="a tiny size: the test suite checks that it runs")
    parser.add_argument("--seconds", type=float, default=15.0, help="at most this long per server and concurrency")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.seconds = 40, 2.0
    notes = texts()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = trained_model(args.model_dir, scratch, args.smoke)
        targets = [ours(model_dir), dffml(model_dir)]
        try:
            difference = asyncio.run(same_answers(targets, notes[:20]))
            levels = sorted({1, 4, 8, args.clients})
            results = {}
            for name, (_, url, body, read) in zip(("ours", "dffml"), targets):
                asyncio.run(load(url, body, read, notes, 4, 8, args.seconds))  # warm up
                results[name] = {clients: asyncio.run(load(url, body, read, notes, clients, args.requests, args.seconds))
                                 for clients in levels}
        finally:
            for process, *_ in targets:
                process.terminate()
                process.wait(timeout=30)
    print(f"loopback, model {model_dir}; largest probability difference between the two servers: {difference:.2e}")
    print(f"{'route':<50} {'clients':>7} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    routes = {"ours": "POST /v1/models/kubernetes-analysis:predict", "dffml": f"POST /model/{DFFML_LABEL}/predict/0 (DFFML)"}
    for name, rows in results.items():
        for clients, row in rows.items():
            print(f"{routes[name]:<50} {clients:>7} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8} "
                  f"{row['p99_ms']:>8} {row['rps']:>8}")
    ours_row, base = results["ours"][args.clients], results["dffml"][args.clients]
    ratios = {"p50_speedup": round(base["p50_ms"] / ours_row["p50_ms"], 1), "rps_ratio": round(ours_row["rps"] / base["rps"], 1)}
    met = {"p50_ms": ours_row["p50_ms"] <= TARGET_P50_MS, "rps": ours_row["rps"] >= TARGET_RPS}
    print(f"at {args.clients} clients, ours vs DFFML: p50 {ratios['p50_speedup']}x lower, {ratios['rps_ratio']}x the requests/s")
    print(f"targets at {args.clients} clients: p50 <= {TARGET_P50_MS} ms {'met' if met['p50_ms'] else 'MISSED'}, "
          f">= {TARGET_RPS:.0f} requests/s {'met' if met['rps'] else 'MISSED'}")
    print(json.dumps({"clients": args.clients, "ours": results["ours"], "dffml": results["dffml"], **ratios,
                      "targets_met": met, "max_probability_difference": difference}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
