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
    parser.add_argument("--timeline", action="store_true",
                        help="then walk every item's timeline, as `export --timeline` does (the final pass's)")
    parser.add_argument("--bots", default="", metavar="REGEX", help="with --timeline: as `export --bots`")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..github.export import summary_line

    summary = flows.run_merge(args.repo, args.base_url, args.store or "", args.shards, args.quiet)
    if args.timeline:
        summary["timeline"] = flows.run_timeline(args.repo, args.base_url, args.store or "", args.quiet, args.bots)
    print(summary_line(summary))
    return 0


def resume(argv: List[str], walk: Optional[str], args: argparse.Namespace) -> str:
    """The same merge while it copies shards; once they are in, the export's final pass (or the timeline's walk)
    alone."""
    if walk not in ("final pass", "timeline"):
        return shlex.join(["k8s-analysis", *argv])
    store = ["--store", args.store] if args.store else []
    bots = ["--bots", args.bots] if args.bots else []
    rest = ["--timeline-only", *bots] if walk == "timeline" else ["--timeline", *bots] if args.timeline else []
    return shlex.join(["k8s-analysis", "export", "--repo", args.repo, "--base-url", args.base_url, *store, *rest])
