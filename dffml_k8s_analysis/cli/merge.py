"""Merge finished export shards into the store, then fetch what changed since their --until. Safe to
run twice.
"""
import argparse

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
