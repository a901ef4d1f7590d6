"""The labeling bot measured on its own repository (bot/report.py).

    k8s-analysis bot report --repo kubernetes/kubernetes --state postgresql://... --mode shadow

Sets the bot's recorded decisions (by default those of --mode shadow: what it would have
done) against what people later did to the same items on GitHub: matches, would-be wrong
labels, misses, suggestions taken, and dotnet's issue-labeler gate (>= 65 % matches,
< 15 % mismatches). --json prints the figures as one JSON object. Reads GitHub with the
token in GITHUB_TOKEN (or the file GITHUB_TOKEN_FILE names): about two requests per item.
"""
import argparse
import json

from ..bot.state import DEFAULT_PATH
from .options import add_models_option, add_repo_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("report",), help="report: the bot's decisions against people's")
    add_repo_options(parser, store=False)
    add_models_option(parser)
    parser.add_argument("--state", default="",
                        help=f"the store of the bot's decisions (default: the --models store, or {DEFAULT_PATH})")
    parser.add_argument("--mode", choices=("act", "suggest", "shadow"), default="shadow",
                        help="the decisions of this mode (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=1000, help="the newest decisions judged (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")


def main(args: argparse.Namespace) -> int:
    from ..bot import report
    from ..bot.state import state_spec
    from ..errors import UserError
    from ..github.client import check_repo
    from ..store import StoreMissing, open_store

    check_repo(args.repo)
    if args.limit < 1:
        raise UserError(f"--limit must be positive, got {args.limit}")
    spec = state_spec(args.state, args.models)
    none = UserError(f"no {args.mode} decisions of the bot on {args.repo} in {spec}: `k8s-analysis serve --mode "
                     f"{args.mode}` records them")
    try:
        with open_store(spec) as state:  # read only: a report never makes or upgrades a store
            tables = state.backend.tables()
            rows = state.bot.decisions(args.repo.lower(), args.mode, args.limit) if "bot_decisions" in tables else []
            own_writes = state.bot.own_writes(args.repo.lower())
    except StoreMissing:
        raise none from None
    if not rows:
        raise none
    label = rows[0][2]  # the newest decision's model label (one label in practice)
    decisions = [(number, decision) for number, _, name, decision, _ in rows if name == label]
    said = report.people(args.base_url, args.repo, [number for number, _ in decisions], label)
    figures = dict(report.compare(decisions, said), label=label, own_writes_skipped=own_writes)
    print(json.dumps(figures, sort_keys=True) if args.json else report.text(figures, args.mode))
    return 0
