"""Chart the stored issues and pull requests: the original's analysis views.

Runs dataflows/analyze.yaml over the store. Each view writes OUT/VIEW-SUBSET.svg,
.png and .json and prints a short table; with no view flag, every view runs.
--include/--exclude select the labels, groups or logins counted by the top-N
views, and the items (by their labels) of the time views.
"""
import argparse
from typing import Any, Dict, List

from ..analysis.views import PERIODS, VIEWS
from ..records.selection import Filter
from ..store.sqlite import default_path

HELP = "charts and numbers: created/closed over time, labels, users, release notes (dataflows/analyze.yaml)"
TIME_ROWS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    views = parser.add_argument_group("views (several at once; none: all)")
    for name in VIEWS:
        views.add_argument(f"--{name}", dest="views", action="append_const", const=name,
                           help=VIEWS[name][1].format(subset="items", period="period", count="N"))
    subset = parser.add_mutually_exclusive_group()
    subset.add_argument("--pull-requests", dest="subset", action="store_const", const="pull_requests",
                        default="all", help="pull requests only")
    subset.add_argument("--issues", dest="subset", action="store_const", const="issues", help="issues only")
    parser.add_argument("--include", default="", metavar="REGEX", help="count only labels/groups/users matching REGEX (time views: items with such a label)")
    parser.add_argument("--exclude", default="", metavar="REGEX", help="leave out labels/groups/users matching REGEX (time views: items with such a label)")
    parser.add_argument("--count", type=int, default=25, metavar="N", help="top N (default: %(default)s)")
    parser.add_argument("--period", choices=PERIODS, default="month", help="time bucket (default: %(default)s)")
    parser.add_argument("--repo", default="kubernetes/kubernetes", help="OWNER/NAME (default: %(default)s)")
    parser.add_argument("--store", help="SQLite store (default: data/OWNER__NAME.sqlite)")
    parser.add_argument("--out", default="out/analysis", help="output directory (default: %(default)s)")


def table(numbers: Dict[str, Any]) -> List[str]:
    """A few lines summing up a view's numbers."""
    lines = [numbers["title"]]
    if "periods" in numbers:
        series = [name for name in ("created", "closed", "open") if name in numbers]
        lines.append("  " + f"{numbers['period']:<10}" + "".join(f"{name:>9}" for name in series))
        for i in range(max(0, len(numbers["periods"]) - TIME_ROWS), len(numbers["periods"])):
            lines.append(f"  {numbers['periods'][i]:<10}" + "".join(f"{numbers[name][i]:>9}" for name in series))
        totals = ", ".join(f"{numbers[name + '_total']} {name}" for name in ("created", "closed") if name in numbers)
        lines.append(f"  ({len(numbers['periods'])} periods, last {TIME_ROWS} shown; {totals} in all)")
        return lines
    width = max([len(name) for name, _ in numbers["top"]] + [10])
    lines += [f"  {name:<{width}} {value:>7}" for name, value in numbers["top"]]
    note = f"  ({numbers['distinct']} distinct, {numbers['total']} counted over {numbers['items']} items"
    if numbers["view"] == "users-by-closed":
        note += f"; {numbers['unknown']} closed items have no known closer"
    if numbers["view"] == "release-notes-stats":
        note += f" with a release note of {numbers['pull_requests']} PRs; {numbers['without_kind']} without kind/"
    lines.append(note + ")")
    return lines


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..errors import UserError
    from ..github.client import split_repo

    if args.store is None:
        split_repo(args.repo)  # the store's name is made of it
    if args.count < 1:
        raise UserError(f"--count must be at least 1, got {args.count}")
    try:
        Filter.of(args.include, args.exclude)
    except ValueError as error:
        raise UserError(f"--{error}") from None
    store = str(args.store or default_path(args.repo))
    result = flows.run_analyze(store, args.views or list(VIEWS), args.subset, args.include, args.exclude,
                               args.count, args.period, args.out)
    loaded = result["loaded"]
    print(f"{loaded['selected']} of {loaded['records']} items of {store}; "
          f"{loaded['malformed']} malformed items skipped")
    for problem in loaded["problems"]:
        print(f"  skipped: {problem}")
    for numbers in result["views"]:
        print()
        print("\n".join(table(numbers)))
    print(f"\ncharts (.svg, .png) and numbers (.json) of {len(result['views'])} views in {args.out}/")
    return 0
