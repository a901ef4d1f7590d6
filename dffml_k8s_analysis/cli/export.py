"""Export (or with --update, incrementally update) a repository's issues and pull requests into the
store: a SQLite file, or a PostgreSQL database. The token comes from GITHUB_TOKEN, or the file
GITHUB_TOKEN_FILE names.

    k8s-analysis export --repo kubernetes/kubernetes --closers
    k8s-analysis export --repo kubernetes/kubernetes --update --closers
    k8s-analysis export --repo kubernetes/kubernetes --update --timeline

Every page is committed as it comes: Ctrl-C stops after the page in flight (exit
130) and prints the command that resumes what was interrupted, without
fetching again what is stored; a second Ctrl-C stops at once.
"""
import argparse
import shlex
from typing import List, Optional

from .options import add_repo_options


def require_sync(store: str) -> None:
    """UserError unless ``store`` holds the high-water mark of a finished export."""
    from ..errors import UserError
    from ..store import open_store

    with open_store(store) as db:
        if db.sync.get("high_water") is None:
            raise UserError(f"store {store} holds no finished export yet: run the export (and final pass) first")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_repo_options(parser)
    parser.add_argument("--update", action="store_true", help="fetch only what changed since the last sync")
    parser.add_argument("--workers", type=int, default=8, help="concurrent windows (default: %(default)s)")
    parser.add_argument("--windows", type=int, default=0, help="time windows of a full export (default: 4 per worker)")
    parser.add_argument("--closers", action="store_true",
                        help="also fetch who closed each item (GraphQL, 1 request per 100 closed items; "
                        "dataflows/closers.yaml), for `analyze --users-by-closed`")
    parser.add_argument("--closers-only", action="store_true",
                        help="only fetch who closed each item, resuming an interrupted walk (the export must be done)")
    parser.add_argument("--timeline", action="store_true",
                        help="also walk each item's timeline: label events and who made them, first response, "
                        "reviews, merge and closer (GraphQL, about 1 point per 100 items; dataflows/timeline.yaml); "
                        "it fills the closers too")
    parser.add_argument("--timeline-only", action="store_true",
                        help="only walk the timelines, resuming an interrupted walk (the export must be done)")
    parser.add_argument("--bots", default="", metavar="REGEX",
                        help="with --timeline: the logins of bot accounts, a regular expression matching the whole "
                        "login (any case); GitHub Apps are bots anyway. Kept in the store for the next walks; "
                        "a change walks every item again. Default: the store's, else Kubernetes' Prow robots")
    parser.add_argument("--shards", type=int, default=0,
                        help="run as pod JOB_COMPLETION_INDEX of an Indexed Job of N pods (a SQLite --store must "
                        "hold {index}; into PostgreSQL every pod writes the one database)")
    parser.add_argument("--until", default="", help="with --shards: the end of the exported range, YYYY-MM-DDTHH:MM:SSZ")
    parser.add_argument("--require-sync", action="store_true",
                        help="with --update: fail unless the store holds a finished export (the daily CronJob: "
                        "never a full export from one pod while the Indexed export has not run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..errors import UserError
    from ..github.export import closers_line, summary_line, timeline_line
    from ..github.timeline import bot_pattern
    from ..store import repo_spec

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.bots:
        bot_pattern(args.bots)  # a bad pattern is refused before anything is fetched
    if args.require_sync or args.closers_only or args.timeline_only:
        require_sync(repo_spec(args.store, args.repo))
    if args.timeline_only:
        print(timeline_line(flows.run_timeline(args.repo, args.base_url, args.store or "", args.quiet, args.bots)))
        return 0
    if args.closers_only:
        print(closers_line(flows.run_closers(args.repo, args.base_url, args.store or "", args.quiet)))
        return 0
    summary = flows.run_export(
        args.repo, args.base_url, args.store or "", args.update, args.workers, args.windows, args.quiet,
        args.closers, args.shards, args.until, args.timeline, args.bots,
    )
    print(summary_line(summary))
    return 0


def resume(argv: List[str], walk: Optional[str], args: argparse.Namespace) -> str:
    """The command that resumes an export interrupted in ``walk``: the same one, or the closers' or timeline's walk
    alone."""
    if walk in ("closers", "timeline"):  # the export is done: only the walk
        argv = [word for word in argv if word not in ("--closers", "--timeline", "--update", "--require-sync",
                                                      "--closers-only", "--timeline-only")]
        argv.append(f"--{walk}-only")
    return shlex.join(["k8s-analysis", *argv])
