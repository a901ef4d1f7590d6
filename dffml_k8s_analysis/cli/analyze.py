"""Chart the stored issues and pull requests: the original's analysis views and three it lacked.

Runs dataflows/analyze.yaml over the store. Each view writes OUT/VIEW-SUBSET.svg
and .json (--png: also .png) and prints a short table; with no view flag, every view runs.
--report also writes OUT/report.html, one page with every chart and table.
--include/--exclude select the labels, groups or logins counted by the top-N
views, and the items (by their labels) of the time views.
"""
import argparse
import pathlib

from ..analysis.numbers import PERIODS
from ..analysis.views import VIEWS
from .options import add_repo_options

def add_arguments(parser: argparse.ArgumentParser) -> None:
    views = parser.add_argument_group("views (several at once; none: all)")
    for name in VIEWS:
        views.add_argument(f"--{name}", dest="views", action="append_const", const=name,
                           help=VIEWS[name].title.format(subset="items", period="period", count="N"))
    subset = parser.add_mutually_exclusive_group()
    subset.add_argument("--pull-requests", dest="subset", action="store_const", const="pull_requests",
                        default="all", help="pull requests only")
    subset.add_argument("--issues", dest="subset", action="store_const", const="issues", help="issues only")
    parser.add_argument("--include", default="", metavar="REGEX", help="count only labels/groups/users matching REGEX (time views: items with such a label; --time-in-label: the labels timed, default ^needs-)")
    parser.add_argument("--exclude", default="", metavar="REGEX", help="leave out labels/groups/users matching REGEX (time views: items with such a label)")
    parser.add_argument("--count", type=int, default=25, metavar="N", help="top N (default: %(default)s)")
    parser.add_argument("--period", choices=PERIODS, default="month", help="time bucket (default: %(default)s)")
    add_repo_options(parser, base_url=False)
    parser.add_argument("--out", default="out/analysis", help="output directory (default: %(default)s)")
    parser.add_argument("--png", action="store_true", help="also write each chart as PNG (the SVG is drawn anyway)")
    parser.add_argument("--report", action="store_true",
                        help="also write OUT/report.html: one self-contained page of every chart and table")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..analysis.report import write_report
    from ..analysis.timeline import NO_TIMELINE
    from ..analysis.views import text
    from ..errors import UserError
    from ..records.selection import Filter
    from ..store import open_store, repo_spec

    if args.store is None:  # the store's name is made of the repository's: check it (PyGithub only then)
        from ..github.client import split_repo

        split_repo(args.repo)
    try:
        Filter.of(args.include, args.exclude)
    except ValueError as error:
        raise UserError(f"--{error}") from None
    if args.count < 1:
        raise UserError(f"--count must be at least 1, got {args.count}")
    store = repo_spec(args.store, args.repo)
    with open_store(store) as opened:  # a missing or foreign store is refused before --out is made
        asked = [name for name in args.views or () if VIEWS[name].timeline]
        if asked and not opened.timelines():
            raise UserError(NO_TIMELINE)  # a view asked for by name; with every view, the report says it instead
    try:
        pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot write to --out {args.out}: {error.strerror}") from None
    result = flows.run_analyze(store, args.views or list(VIEWS), args.subset, args.include, args.exclude,
                               args.count, args.period, args.out, args.png)
    loaded = result["loaded"]
    print(f"{loaded['selected']} of {loaded['records']} items of {store}; "
          f"{loaded['malformed']} malformed items skipped")
    for problem in loaded["problems"]:
        print(f"  skipped: {problem}")
    for numbers in result["views"]:
        print()
        print("\n".join(text(numbers)))
    print(f"\ncharts (.svg{', .png' if args.png else ''}) and numbers (.json) of {len(result['views'])} views "
          f"in {args.out}/")
    if args.report:
        print(f"report: {write_report(pathlib.Path(args.out) / 'report.html', result)}")
    return 0
