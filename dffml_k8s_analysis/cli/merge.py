"""Merge finished export shards into the store, then fetch what changed since their --until. Safe to
run twice.
"""
import argparse
import shlex
from typing import List, Optional

from .options import add_repo_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="the SQLite shard files (or glob patterns)")
    add_repo_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..github.export import summary_line

    print(summary_line(flows.run_merge(args.repo, args.base_url, args.store or "", args.shards, args.quiet)))
    return 0


def resume(argv: List[str], walk: Optional[str], args: argparse.Namespace) -> str:
    """The same merge while it copies shards; once they are in, the export's final pass alone."""
    if walk != "final pass":
        return shlex.join(["k8s-analysis", *argv])
    store = ["--store", args.store] if args.store else []
    return shlex.join(["k8s-analysis", "export", "--repo", args.repo, "--base-url", args.base_url, *store])
