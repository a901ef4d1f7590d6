"""``k8s-analysis demo``: the whole job on the embedded default, no token, no network.

Starts the GitHub emulator on 127.0.0.1 with a sample it generates (built on
the shared real release notes when they are present), exports it into the
SQLite store through the export dataflow, changes some items on the emulated
GitHub, runs the update dataflow, checks the store against what GitHub
serves, and stops everything it started.
"""
import argparse
import pathlib

import requests

from . import flows
from .export import summary_line
from .emulator import EmulatorConfig, running
from .store import Store

REPO = "kubernetes/kubernetes"
HELP = "run the whole job against the emulator: no token, no network"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=positive_int, default=3000, help="sample size (default: %(default)s)")
    parser.add_argument("--changes", type=positive_int, default=100, help="items changed before the update")
    parser.add_argument("--out", default="out/demo", help="where outputs go (default: %(default)s)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    store = out / "kubernetes__kubernetes.sqlite"
    for stale in out.glob("kubernetes__kubernetes.sqlite*"):
        stale.unlink()
    with running(EmulatorConfig(items=args.items)) as github:
        step(f"GitHub emulator at {github.url} with {args.items} sample items")
        step("export (dataflows/export.yaml)")
        print(summary_line(flows.run_export(REPO, github.url, str(store))))
        changed = requests.post(f"{github.url}/_emulator/touch", json={"count": args.changes, "seed": 1}).json()
        step(f"{len(changed['numbers'])} items changed on GitHub; update (dataflows/update.yaml)")
        print(summary_line(flows.run_export(REPO, github.url, str(store), update=True)))
        served = requests.get(f"{github.url}/_emulator/items").json()["items"]
    with Store(store, create=False) as db:
        mine = db.versions()
    if {int(number): updated for number, updated in served.items()} != mine:
        print("demo: FAILED: the store differs from what GitHub serves")
        return 1
    step("done: the store holds exactly what GitHub serves")
    print(f"store: {store}")
    return 0
