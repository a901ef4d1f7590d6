"""Options that several commands share."""
import argparse

from ..github.client import DEFAULT_BASE_URL
from ..store import SPEC_HELP


def add_repo_options(parser: argparse.ArgumentParser) -> None:
    """--repo, --base-url and --store, as every command on a repository's store takes them."""
    parser.add_argument("--repo", default="kubernetes/kubernetes", help="OWNER/NAME (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API root (GitHub Enterprise, the emulator)")
    parser.add_argument("--store", metavar="SPEC", help=SPEC_HELP)


def add_models_option(parser: argparse.ArgumentParser) -> None:
    """--models SPEC (alias --model-dir): the model registry, a directory or a store (model.registry)."""
    parser.add_argument("--models", "--model-dir", dest="models", default="out/model", metavar="SPEC",
                        help="the model registry: a directory (the link to the serving version), or a store every "
                             "node reads (a .sqlite/.db file or a postgresql:// URI; default: %(default)s)")


def add_canary_options(parser: argparse.ArgumentParser) -> None:
    """When a canary holds (model.canary.Policy): --min-requests, --min-agreement, --max-errors, --max-latency-ratio."""
    from ..model.canary import Policy

    parser.add_argument("--min-requests", type=int, default=Policy.min_requests,
                        help="observations a canary needs to hold (default: %(default)s)")
    parser.add_argument("--min-agreement", type=float, default=Policy.min_agreement,
                        help="share of observations where both models decide alike (default: %(default)s)")
    parser.add_argument("--max-errors", type=int, default=Policy.max_errors,
                        help="canary failures tolerated (default: %(default)s)")
    parser.add_argument("--max-latency-ratio", type=float, default=Policy.max_latency_ratio,
                        help="canary median latency over the serving model's (default: %(default)s)")


def canary_policy(args: argparse.Namespace, share: float = 0.0, soak_s: float = 0.0):
    from ..model.canary import Policy

    return Policy(share=share, soak_s=soak_s, min_requests=args.min_requests, min_agreement=args.min_agreement,
                  max_errors=args.max_errors, max_latency_ratio=args.max_latency_ratio)
