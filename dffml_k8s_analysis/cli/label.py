"""Run the labeling bot on one issue or PR, or on every item updated since a time (dataflows/label.yaml).

    k8s-analysis label --repo kubernetes/kubernetes --number 12345 --models out/model
    k8s-analysis label --since 2026-12-01T00:00:00Z --mode shadow --models out/model

Fetches the item's body, predicts its release note with the version that serves
in --models (a directory or a store, as serve reads it), and reconciles the
kind/bug label and the bot's <!-- RELNOTE_PREDICTION --> comment under the bot's
rules, exactly as the webhook does (--mode act|suggest|shadow). --since sweeps
every item updated since TIME (the deliveries lost in an outage), one JSON line
each. With a --state store (default: the --models store, if the models are in one)
it takes the serving replicas' leases and keeps its decisions for
`k8s-analysis bot report`. Safe to
rerun: with nothing to change it makes no write. The token comes from
GITHUB_TOKEN, or the file GITHUB_TOKEN_FILE names.
"""
import argparse
import contextlib
import json
import time
import uuid

from ..bot.state import DEFAULT_PATH
from .options import add_bot_options, add_models_option, add_repo_options


HOLD_S = 90.0  # an item's lease while this command reconciles it (the serving replicas skip it meanwhile)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_repo_options(parser, store=False)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--number", type=int, help="issue or PR number")
    which.add_argument("--since", metavar="TIME",
                       help="every issue and PR updated since TIME (ISO 8601, e.g. 2026-12-01T00:00:00Z)")
    add_models_option(parser)
    add_bot_options(parser)
    parser.add_argument("--state", default="",
                        help="the bot's store (as serve's --state): leases shared with the serving replicas and the "
                             "decisions for `bot report` (default: the --models store; with models in a directory, "
                             f"none: serve's default is {DEFAULT_PATH})")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from .. import flows
    from ..bot.state import decision_row
    from ..bot.sweep import since_time, updated_since
    from ..errors import UserError, first_cause
    from ..github.client import GitHubError, check_repo
    from ..model.artifacts import ArtifactError
    from ..model.registry import is_store
    from ..store import open_store
    from .options import serving_model

    check_repo(args.repo)
    if args.number is not None and args.number < 1:
        raise UserError(f"--number must be positive, got {args.number}")
    if args.since is not None:
        since_time(args.since)
    failed = 0
    spec = args.state or (args.models if is_store(args.models) else None)  # else: no leases, nothing recorded
    with serving_model(args.models) as (_, directory), \
            (open_store(spec, create=True) if spec else contextlib.nullcontext()) as state:
        numbers = [args.number] if args.number is not None else \
            [number for number, _ in updated_since(args.base_url, args.repo, args.since)]
        for number in numbers:
            holder = uuid.uuid4().hex
            if state and not state.bot.take_lease(args.repo.lower(), number, holder, time.time(), time.time() + HOLD_S):
                print(json.dumps({"repo": args.repo, "number": number, "ignored": "another reconcile holds it"}))
                continue
            inputs = flows.item_inputs(args.repo, number, args.base_url, directory, args.mode, args.apply_sigs)
            try:
                outcome = asyncio.run(flows.run_label(inputs))
            except Exception as error:
                cause = first_cause(error, (ArtifactError, GitHubError))
                if isinstance(cause, GitHubError) and args.since is not None:  # one item's: the sweep goes on
                    failed += 1
                    print(json.dumps({"repo": args.repo, "number": number, "error": str(cause)}), flush=True)
                    continue
                if isinstance(cause, ArtifactError):
                    raise UserError(str(cause)) from None
                raise
            finally:
                if state:
                    state.bot.release_lease(args.repo.lower(), number, holder)
            row = decision_row(outcome)
            if state and row is not None:
                state.bot.record_decision(*row)
            print(json.dumps(outcome, sort_keys=True), flush=True)
    return 1 if failed else 0
