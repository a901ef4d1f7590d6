"""Run the labeling bot on one issue or PR (dataflows/label.yaml).

    k8s-analysis label --repo kubernetes/kubernetes --number 12345 --models out/model

Fetches the item's body, predicts its release note with the version that serves
in --models (a directory or a store, as serve reads it), and reconciles the
kind/bug label and the bot's <!-- RELNOTE_PREDICTION --> comment, exactly as the
webhook does. Safe to rerun: with nothing to change it makes no write. The token
comes from GITHUB_TOKEN, or the file GITHUB_TOKEN_FILE names.
"""
import argparse
import json

from .options import add_models_option, add_repo_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_repo_options(parser, store=False)
    parser.add_argument("--number", type=int, required=True, help="issue or PR number")
    add_models_option(parser)


def main(args: argparse.Namespace) -> int:
    import asyncio

    from .. import flows
    from ..errors import UserError, first_cause
    from ..model.artifacts import ArtifactError
    from .options import serving_model

    if args.number < 1:
        raise UserError(f"--number must be positive, got {args.number}")
    with serving_model(args.models) as (_, directory):
        try:
            outcome = asyncio.run(flows.run_label(flows.item_inputs(args.repo, args.number, args.base_url, directory)))
        except Exception as error:
            cause = first_cause(error, (ArtifactError,))
            if cause is not None:
                raise UserError(str(cause)) from None
            raise
    print(json.dumps(outcome, sort_keys=True))
    return 0
