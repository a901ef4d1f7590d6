"""``k8s-analysis``: the original kubernetes-analysis subcommands on DFFML dataflows."""
import argparse
import gc
import importlib
import logging
import sys
import traceback
from typing import List, Optional, Sequence

from .. import interrupt
from ..errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TRANSIENT, UserError, first_cause
from .options import HelpFormatter

LOGGER = logging.getLogger("k8s-analysis")

# Subcommands: name -> (module, one-line help). A module has add_arguments(parser) and main(args) -> exit
# status, perhaps resume(argv, walk, args) -> the command that resumes it, and its docstring is the description. Only the command that runs is imported (help included),
# so a module imports at its top only what its options need, and the rest inside main().
COMMANDS = {
    "export": ("dffml_k8s_analysis.cli.export",
               "export every issue and PR into the store, SQLite or PostgreSQL (dataflows/export.yaml)"),
    "merge": ("dffml_k8s_analysis.cli.merge",
              "combine an Indexed Job's export shards into the store (dataflows/merge.yaml)"),
    "emulate-github": ("dffml_k8s_analysis.cli.emulate_github",
                       "serve an emulated GitHub REST API on 127.0.0.1 with sample data"),
    "demo": ("dffml_k8s_analysis.cli.demo", "run the whole loop against the emulator: no token, no network"),
    "train": ("dffml_k8s_analysis.cli.train", "train the release-note classifier (k8s-mlp) [--tune]"),
    "predict": ("dffml_k8s_analysis.cli.predict", "classify a release note TEXT, or --test the example notes"),
    "tune": ("dffml_k8s_analysis.cli.tune",
             "run one tuning grid point (--index, $JOB_COMPLETION_INDEX) or --summary DIR"),
    "pipeline": ("dffml_k8s_analysis.cli.pipeline",
                 "update, decide the canary, retrain if the data changed, gate, roll out (dataflows/pipeline.yaml)"),
    "canary": ("dffml_k8s_analysis.cli.canary",
               "show or decide the canary model (promote if it holds, roll back if not)"),
    "analyze": ("dffml_k8s_analysis.cli.analyze",
                "charts and numbers: created/closed over time, labels, users, release notes, time to close, "
                "sig/ backlog; from the timeline: first response, review latency, label provenance, time in "
                "label; contributors; --report: one HTML page (dataflows/analyze.yaml)"),
    "serve": ("dffml_k8s_analysis.cli.serve", "serve predictions (POST /v1/models/kubernetes-analysis:predict) "
              "and the labeling webhook (POST /webhook)"),
    "label": ("dffml_k8s_analysis.cli.label",
              "label one issue or PR from its release note's prediction (the webhook bot, by hand), or sweep "
              "every item updated since a time"),
    "bot": ("dffml_k8s_analysis.cli.bot",
            "report: the bot's decisions (shadow mode's: what it would have done) against what people did"),
    "dffml-service": ("dffml_k8s_analysis.cli.dffml_service",
                      "serve our dataflows (POST /predict, /analyze) through DFFML's own HTTP service, safely"),
}


def chosen(argv: Sequence[str]) -> Optional[str]:
    """The command named on the line: its first word that is not an option (the top level's take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``argv`` of the one it names (the others only by name and help)."""
    parser = argparse.ArgumentParser(prog="k8s-analysis", formatter_class=HelpFormatter,
                                     description="Mine a GitHub repository's issues and pull requests with DFFML.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages; a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    name = None if argv is None else chosen(argv)
    for command, (module_name, help_text) in COMMANDS.items():
        if name is not None and command != name:
            sub.add_parser(command, help=help_text)
            continue
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(command, help=help_text, description=module.__doc__,
                                        formatter_class=HelpFormatter)
        module.add_arguments(command_parser)
        # -v after the command too; SUPPRESS leaves the top level's value when it is not given here
        command_parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                    help="log debug messages; a traceback on errors")
        command_parser.set_defaults(func=module.main, resume=getattr(module, "resume", None))
    return parser


def reported() -> tuple:
    """What a command may fail with in one line, also behind DFFML's OperationException."""
    from ..github.client import GitHubError
    from ..store import StoreError

    return GitHubError, StoreError, UserError


def interrupted(args: argparse.Namespace, argv: List[str], walk: Optional[str]) -> int:
    """Say what was interrupted and the command that resumes it (what is committed is not fetched again)."""
    if args.resume is None:
        print("k8s-analysis: interrupted; rerun the same command to resume", file=sys.stderr)
    else:
        print(f"k8s-analysis: {walk or args.command} interrupted; resume with: {args.resume(argv, walk, args)}",
              file=sys.stderr)
    gc.freeze()  # what is left is not worth the second a last collection of it takes at exit
    return EXIT_INTERRUPTED


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="k8s-analysis: %(message)s",
    )
    if not args.verbose:  # their retries and lost connections are ours to report, in one line
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        logging.getLogger("psycopg").setLevel(logging.ERROR)
    try:
        with interrupt.installed():
            return args.func(args)
    except KeyboardInterrupt:
        return interrupted(args, argv, None)
    except Exception as error:  # one line for the user; -v shows the traceback
        stopped = first_cause(error, (interrupt.Interrupted,))
        if stopped is not None:
            return interrupted(args, argv, stopped.walk)
        cause = first_cause(error, reported())
        if cause is None:  # a bug: the traceback, and a status that a Job retries rather than fails on
            traceback.print_exc()
            return EXIT_BUG
        LOGGER.debug("traceback", exc_info=error)
        print(f"k8s-analysis: error: {cause}", file=sys.stderr)
        return EXIT_TRANSIENT if getattr(cause, "transient", False) else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
