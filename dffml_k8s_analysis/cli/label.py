"""``k8s-analysis label``: run the labeling bot on one issue or PR (dataflows/label.yaml).

Fetches the item's body, predicts its release note and reconciles the
``kind/bug`` label and the bot's ``<!-- RELNOTE_PREDICTION -->`` comment,
exactly as the webhook does. Safe to rerun: with nothing to change it makes
no write. The token comes from GITHUB_TOKEN, or the file GITHUB_TOKEN_FILE names.
"""
import argparse
import json

from ..github.client import DEFAULT_BASE_URL
from .train import DEFAULT_MODEL_DIR

HELP = "label one issue or PR from its release note's prediction (the webhook bot, by hand)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default="kubernetes/kubernetes", help="OWNER/NAME (default: %(default)s)")
    parser.add_argument("--number", type=int, required=True, help="issue or PR number")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API root (GitHub Enterprise, the emulator)")
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="artifact directory (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from operations.label import item_inputs

    from .. import flows
    from ..errors import UserError, first_cause
    from ..model.artifacts import ArtifactError

    if args.number < 1:
        raise UserError(f"--number must be positive, got {args.number}")
    try:
        outcome = asyncio.run(flows.run_label(item_inputs(args.repo, args.number, args.base_url, args.model_dir)))
    except Exception as error:
        cause = first_cause(error, (ArtifactError,))
        if cause is not None:
            raise UserError(str(cause)) from None
        raise
    print(json.dumps(outcome, sort_keys=True))
    return 0
