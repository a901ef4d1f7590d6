"""Update the store, decide a soaking canary, retrain when the data changed, gate the candidate, roll it out.

Runs dataflows/pipeline.yaml, as the daily CronJob does. A candidate that passed
the gate becomes the canary (--canary-share of predictions for --canary-soak
seconds; the next run promotes it if it holds, see `k8s-analysis canary`), or,
with --canary-share 0 or a model directory, serves all traffic at once.
--dry-run trains a candidate and gates it, whether the data changed or not, and
writes nothing: no update of the store (no request to GitHub), no model version.
"""
import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..model.canary import Policy
    from .options import add_canary_options, add_models_option, add_repo_options

    add_repo_options(parser)
    add_models_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="train and gate on the store as it is; update nothing, store no model, start no canary")
    parser.add_argument("--canary-share", type=float, default=Policy.share,
                        help="share of predictions a new model answers while it soaks (default: %(default)s; "
                             "0 promotes at once)")
    parser.add_argument("--canary-soak", type=float, default=Policy.soak_s,
                        help="seconds a canary soaks before a run decides it (default: %(default)s)")
    add_canary_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from .. import flows
    from ..github.export import summary_line
    from ..model.canary import describe
    from ..store.postgres import redact
    from .options import canary_policy

    policy = canary_policy(args, args.canary_share, args.canary_soak)
    report = flows.run_pipeline(args.repo, args.base_url, args.store or "", args.models, args.quiet, args.dry_run,
                                policy)
    print(summary_line(report["update"]) if report["update"] else "dry run: the store is not updated")
    if report["canary"]:
        print(describe(report["canary"]))
    if report["candidate"]:
        gate = report["gate"]
        print(f"trained a candidate on {report['trained_on']} release notes: {report['candidate']}")
        print(f"gate: {gate['examples'] - len(gate['failed'])}/{gate['examples']} example notes right"
              + "".join(f"\n  wrong: {text}" for text in gate["failed"]))
    outcome = "promoted" if report["promoted"] else "canary started" if report["canary_started"] else "not promoted"
    print(f"{outcome}: {report['why']}; models: {redact(args.models)}")
    return 1 if report["candidate"] and report["gate"]["failed"] else 0
