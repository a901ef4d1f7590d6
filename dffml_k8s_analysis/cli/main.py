"""``k8s-analysis``: the original kubernetes-analysis subcommands on DFFML dataflows."""
import argparse
import importlib
import logging
import sys
import traceback
from typing import List, Optional

from ..errors import EXIT_BUG, EXIT_ERROR, EXIT_TRANSIENT, UserError, first_cause
from ..github.client import GitHubError
from ..store import StoreError

LOGGER = logging.getLogger("k8s-analysis")

# Subcommands: name -> module with HELP, add_arguments(parser) and main(args) ->
# exit status; its docstring is the description. Keep the modules light to import.
COMMANDS = {
    "export": "dffml_k8s_analysis.cli.export",
    "merge": "dffml_k8s_analysis.cli.merge",
    "emulate-github": "dffml_k8s_analysis.cli.emulate_github",
    "demo": "dffml_k8s_analysis.cli.demo",
    "train": "dffml_k8s_analysis.cli.train",
    "predict": "dffml_k8s_analysis.cli.predict",
    "tune": "dffml_k8s_analysis.cli.tune",
    "pipeline": "dffml_k8s_analysis.cli.pipeline",
    "canary": "dffml_k8s_analysis.cli.canary",
    "analyze": "dffml_k8s_analysis.cli.analyze",
    "serve": "dffml_k8s_analysis.cli.serve",
    "label": "dffml_k8s_analysis.cli.label",
    "dffml-service": "dffml_k8s_analysis.cli.dffml_service",
}


# what a command may fail with in one line, also behind DFFML's OperationException
REPORTED = (GitHubError, StoreError, UserError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8s-analysis",
        description="Mine a GitHub repository's issues and pull requests with DFFML.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(func=module.main)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="k8s-analysis: %(message)s",
    )
    if not args.verbose:  # their retries and lost connections are ours to report, in one line
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        logging.getLogger("psycopg").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("k8s-analysis: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; -v shows the traceback
        cause = first_cause(error, REPORTED)
        if cause is None:  # a bug: the traceback, and a status that a Job retries rather than fails on
            traceback.print_exc()
            return EXIT_BUG
        LOGGER.debug("traceback", exc_info=error)
        print(f"k8s-analysis: error: {cause}", file=sys.stderr)
        return EXIT_TRANSIENT if getattr(cause, "transient", False) else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
