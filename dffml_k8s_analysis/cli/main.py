"""``k8s-analysis``: the original kubernetes-analysis subcommands on DFFML dataflows."""
import argparse
import importlib
import logging
import sys
from typing import List, Optional

from .. import flows
from ..errors import UserError, first_cause
from ..github.client import DEFAULT_BASE_URL, GitHubError
from ..github.export import summary_line
from ..store.sqlite import StoreError

LOGGER = logging.getLogger("k8s-analysis")

# Subcommands beyond export: name -> module with HELP, add_arguments(parser)
# and main(args) -> exit status. Keep the modules light to import.
COMMANDS = {
    "emulate-github": "dffml_k8s_analysis.emulator.rest",
    "demo": "dffml_k8s_analysis.cli.demo",
    "train": "dffml_k8s_analysis.cli.train",
    "predict": "dffml_k8s_analysis.cli.predict",
    "tune": "dffml_k8s_analysis.cli.tune",
    "pipeline": "dffml_k8s_analysis.cli.pipeline",
    "analyze": "dffml_k8s_analysis.cli.analyze",
    "serve": "dffml_k8s_analysis.cli.serve",
    "label": "dffml_k8s_analysis.cli.label",
}


# what a command may fail with in one line, also behind DFFML's OperationException
REPORTED = (GitHubError, StoreError, UserError)


def cmd_export(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    summary = flows.run_export(
        args.repo, args.base_url, args.store or "", args.update, args.workers, args.windows, args.quiet,
        args.closers, args.shards, args.until,
    )
    print(summary_line(summary))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    print(summary_line(flows.run_merge(args.repo, args.base_url, args.store or "", args.shards, args.quiet)))
    return 0


def add_repo_options(parser: argparse.ArgumentParser) -> None:
    """--repo, --base-url and --store, as every command on a repository's store takes them."""
    parser.add_argument("--repo", default="kubernetes/kubernetes", help="OWNER/NAME (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API root (GitHub Enterprise, the emulator)")
    parser.add_argument("--store", help="SQLite file (default: data/OWNER__NAME.sqlite)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8s-analysis",
        description="Mine a GitHub repository's issues and pull requests with DFFML.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    exp = sub.add_parser(
        "export",
        help="export every issue and PR into the SQLite store (dataflows/export.yaml)",
        description="Export (or with --update, incrementally update) a repository's issues and "
        "pull requests into an SQLite store. The token comes from GITHUB_TOKEN.",
    )
    add_repo_options(exp)
    exp.add_argument("--update", action="store_true", help="fetch only what changed since the last sync")
    exp.add_argument("--workers", type=int, default=8, help="concurrent windows (default: %(default)s)")
    exp.add_argument("--windows", type=int, default=0, help="time windows of a full export (default: 4 per worker)")
    exp.add_argument("--closers", action="store_true",
                     help="also fetch who closed each item (GraphQL, 1 request per 100 closed items; "
                     "dataflows/closers.yaml), for `analyze --users-by-closed`")
    exp.add_argument("--shards", type=int, default=0,
                     help="run as pod JOB_COMPLETION_INDEX of an Indexed Job of N pods (store must hold {index})")
    exp.add_argument("--until", default="", help="with --shards: the end of the exported range, YYYY-MM-DDTHH:MM:SSZ")
    exp.add_argument("--quiet", action="store_true", help="no progress bar")
    exp.set_defaults(func=cmd_export)

    mrg = sub.add_parser(
        "merge",
        help="combine an Indexed Job's export shards into the store (dataflows/merge.yaml)",
        description="Merge finished export shards into the store, then fetch what changed since their "
        "--until. Safe to run twice.",
    )
    add_repo_options(mrg)
    mrg.add_argument("--quiet", action="store_true", help="no progress bar")
    mrg.add_argument("shards", nargs="+", help="the shard stores")
    mrg.set_defaults(func=cmd_merge)

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
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("k8s-analysis: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; -v shows the traceback
        cause = first_cause(error, REPORTED)
        if cause is None:
            raise
        LOGGER.debug("traceback", exc_info=error)
        print(f"k8s-analysis: error: {cause}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
