"""Benchmark the store's migrations on a large store against the previous release's in-place upgrade.

Builds a SQLite store of 135,000 emulated items (the emulator's sample, written page by page through
``Store.save_page`` as an export writes it), then, each in a fresh interpreter on its own copy:

- ours, from a store written before the derived columns (no version mark, no ``derived`` table): the first
  open for writing runs the pending migrations, the derived columns among them (every item derived);
- ours, from a store the previous release wrote (every table, derived columns complete, no version mark):
  the version is read from its tables, nothing is run;
- ours, opening a current store for writing (nothing to do);
- the baseline: the previous release (git commit ``OLD``, extracted with ``git archive``) opening the first
  store for writing, which ran its own in-place derived-columns upgrade.

Prints a table and, last, one line of JSON.

    .venv/bin/python bench/migrate.py [--items 135000]
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from dffml_k8s_analysis.store import migrations

from analyze import build_store  # bench/ is the script's directory: the same store as bench/analyze.py builds

OLD = "044f4ce"  # the last release before schema versions: derived columns upgraded in place
ROOT = Path(__file__).resolve().parent.parent
WORKER = """
import json, sys, time
started = time.perf_counter()
from dffml_k8s_analysis.store import open_store
imported = time.perf_counter()
with open_store(sys.argv[1], create=True) as store:
    opened = time.perf_counter()
    items = store.count()["items"]
print(json.dumps({"open_s": opened - imported, "import_s": imported - started, "items": items}))
"""


def copy(store: Path, target: Path, derived: bool) -> Path:
    """A copy of ``store`` as a release before schema versions wrote it (``derived``: its columns complete)."""
    shutil.copy(store, target)
    db = sqlite3.connect(target)
    migrations.as_unversioned(db, derived)
    db.close()
    return target


def run(store: Path, tree: Path) -> dict:
    """Open ``store`` for writing with the package in ``tree``, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", WORKER, str(store)], cwd=tree, check=True, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(tree)))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=135000)
    parser.add_argument("--smoke", action="store_true", help="30 items: the suite checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.items = 30
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "current.sqlite")
        print(f"building a {args.items}-item store: {build_store(store, args.items):.1f} s", flush=True)
        old_tree = Path(tmp, "old")
        old_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        ours = run(copy(store, Path(tmp, "a.sqlite"), derived=False), ROOT)
        old = run(copy(store, Path(tmp, "b.sqlite"), derived=False), old_tree)
        previous = run(copy(store, Path(tmp, "c.sqlite"), derived=True), ROOT)
        current = run(store, ROOT)
        store_mib = store.stat().st_size / 2**20
    assert ours["items"] == old["items"] == args.items
    print(f"\n{args.items} items; store {store_mib:.0f} MiB; first open for writing (s)\n")
    print(f"  {'from before the derived columns: ours':<56}{ours['open_s']:>8.2f}")
    print(f"  {'the same, the previous release (baseline, ' + OLD + ')':<56}{old['open_s']:>8.2f}"
          f"{old['open_s'] / ours['open_s']:>8.2f}x")
    print(f"  {'from the previous release, columns complete: ours':<56}{previous['open_s']:>8.3f}")
    print(f"  {'a current store: ours':<56}{current['open_s']:>8.3f}")
    print(json.dumps({"items": args.items, "store_mib": round(store_mib), "migrate_s": round(ours["open_s"], 3),
                      "baseline_s": round(old["open_s"], 3), "ratio_baseline": round(old["open_s"] / ours["open_s"], 2),
                      "unversioned_open_s": round(previous["open_s"], 3),
                      "current_open_s": round(current["open_s"], 3)}))


if __name__ == "__main__":
    main()
