"""Update the store, retrain when the data changed, gate the candidate on the example notes, promote it.

Runs dataflows/pipeline.yaml, as the daily CronJob does. The serving model
directory is a symbolic link that only moves to a candidate that passed.
"""
import argparse

HELP = "update, retrain if the data changed, gate on the --test notes, promote (dataflows/pipeline.yaml)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .options import add_repo_options

    add_repo_options(parser)
    parser.add_argument("--model-dir", default="out/model", help="the serving model (a link; default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..github.export import summary_line

    report = flows.run_pipeline(args.repo, args.base_url, args.store or "", args.model_dir, args.quiet)
    print(summary_line(report["update"]))
    if report["candidate"]:
        gate = report["gate"]
        print(f"trained a candidate on {report['trained_on']} release notes: {report['candidate']}")
        print(f"gate: {gate['examples'] - len(gate['failed'])}/{gate['examples']} example notes right"
              + "".join(f"\n  wrong: {text}" for text in gate["failed"]))
    print(f"{'promoted' if report['promoted'] else 'not promoted'}: {report['why']}; serving model: {args.model_dir}")
    return 0 if report["promoted"] or report["candidate"] is None else 1
