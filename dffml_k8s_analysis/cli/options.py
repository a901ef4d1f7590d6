"""What several commands share: the help's format, option types, and the options themselves.

Light to import: a command's options are added for its --help too, which loads no model and no server.
"""
import argparse
import contextlib
from typing import Iterator, Tuple

DEFAULT_REPO = "kubernetes/kubernetes"
DEFAULT_MODELS = "out/model"


def shows_default(action: argparse.Action) -> bool:
    """Whether the help should name ``action``'s default: not for a flag, nor an option that has none."""
    return not (action.default is None or action.default is False or action.default == ""
                or action.default is argparse.SUPPRESS)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their lines (the examples); an option's help ends with its default when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or not shows_default(action):
            return text
        return f"{text} (default: %(default)s)"


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port(text: str) -> int:
    """An argparse type: a TCP port, 0..65535 (0: the system picks a free one)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {value}")
    return value


def add_repo_options(parser: argparse.ArgumentParser, base_url: bool = True, store: bool = True) -> None:
    """--repo, and --base-url and --store unless told not: a repository, on GitHub and in its store."""
    parser.add_argument("--repo", default=DEFAULT_REPO, help="OWNER/NAME")
    if base_url:
        from ..github.client import DEFAULT_BASE_URL

        parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API root (GitHub Enterprise, the emulator)")
    if store:
        from ..store import SPEC_HELP

        parser.add_argument("--store", metavar="SPEC", help=SPEC_HELP)


def add_models_option(parser: argparse.ArgumentParser) -> None:
    """--models SPEC (alias --model-dir): the model registry, a directory or a store (model.registry)."""
    parser.add_argument("--models", "--model-dir", dest="models", default=DEFAULT_MODELS, metavar="SPEC",
                        help="the model registry: a directory (the link to the serving version), or a store every "
                             "node reads (a .sqlite/.db file or a postgresql:// URI; default: %(default)s)")


@contextlib.contextmanager
def serving_model(spec: str) -> Iterator[Tuple[object, str]]:
    """(the Predictor, its directory) of the version that serves in the registry ``spec``; UserError if none."""
    from ..errors import UserError
    from ..model.artifacts import ArtifactError
    from ..model.registry import open_registry

    models = open_registry(spec)
    try:
        stamp = models.routing().serving
        if stamp is None:
            raise UserError(f"no model version serves in {spec}: run k8s-analysis pipeline --models {spec}")
        yield models.load(stamp), models.directory(stamp)
    except ArtifactError as error:
        raise UserError(str(error)) from error
    finally:
        models.close()


def add_canary_options(parser: argparse.ArgumentParser) -> None:
    """When a canary holds (model.canary.Policy): --min-requests, --min-agreement, --max-errors, --max-latency-ratio."""
    from ..model.canary import Policy

    parser.add_argument("--min-requests", type=int, default=Policy.min_requests,
                        help="observations a canary needs to hold")
    parser.add_argument("--min-agreement", type=float, default=Policy.min_agreement,
                        help="share of observations where both models decide alike")
    parser.add_argument("--max-errors", type=int, default=Policy.max_errors, help="canary failures tolerated")
    parser.add_argument("--max-latency-ratio", type=float, default=Policy.max_latency_ratio,
                        help="canary median latency over the serving model's")


def canary_policy(args: argparse.Namespace, share: float = 0.0, soak_s: float = 0.0):
    """The canary's Policy of the options add_canary_options added."""
    from ..model.canary import Policy

    return Policy(share=share, soak_s=soak_s, min_requests=args.min_requests, min_agreement=args.min_agreement,
                  max_errors=args.max_errors, max_latency_ratio=args.max_latency_ratio)


def add_bot_options(parser: argparse.ArgumentParser) -> None:
    """--mode and --apply-sigs: how the labeling bot acts (see bot/rules.py)."""
    parser.add_argument("--mode", choices=("act", "suggest", "shadow"), default="act",
                        help="act: add or remove labels in the act band and comment; suggest: comments, never a label; "
                             "shadow: write nothing to GitHub, record what it would do for `k8s-analysis bot report` "
                             "(default: %(default)s)")
    parser.add_argument("--apply-sigs", action="store_true",
                        help="add the SIG router's top sig/* label to items with needs-sig or no sig/* (else only suggest it)")
