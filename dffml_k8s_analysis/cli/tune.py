"""Run one point of the k8s-mlp tuning grid, or summarize the points run.

Each index (0..N-1, see --list) trains one hyperparameter combination and
writes OUT/point-INDEX.json; the index defaults to $JOB_COMPLETION_INDEX so
that a Kubernetes Indexed Job runs one point per pod. --summary OUT
prints the table and the best point by validation accuracy + F1.
"""
import argparse
import os

from .train import add_training_arguments, load_examples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser)
    parser.add_argument("--index", type=int, help="grid point (default: $JOB_COMPLETION_INDEX)")
    parser.add_argument("--out", default="out/tuning", help="directory for point-INDEX.json (default: %(default)s)")
    parser.add_argument("--summary", metavar="DIR", help="summarize the points in DIR instead")
    parser.add_argument("--list", action="store_true", help="print the grid and exit")


def main(args: argparse.Namespace) -> int:
    import json

    from .. import jobindex
    from ..errors import UserError
    from ..model import classifier, tuning

    if args.list:
        for index, point in enumerate(tuning.grid()):
            print(index, json.dumps(point))
        return 0
    if args.summary:
        try:
            summary = tuning.summarize(args.summary)
        except ValueError as error:
            raise UserError(str(error)) from error
        print(tuning.table(summary))
        print(f"best: {summary['why']}")
        if summary["missing"]:
            print(f"not run yet: {len(summary['missing'])} points, e.g. {summary['missing'][:10]}")
        return 0
    if args.index is None and jobindex.ENV not in os.environ:
        raise UserError(f"give --index I (or set {jobindex.ENV}), --summary DIR or --list")
    try:
        index = args.index if args.index is not None else jobindex.job_index(len(tuning.grid()))
        tuning.point_params(index)
    except ValueError as error:
        raise UserError(f"bad grid index: {error}") from error
    texts, label_lists = load_examples(args)
    result = tuning.run_point(index, texts, label_lists, args.out, base=classifier.Params(seed=args.seed))
    print(json.dumps(result, sort_keys=True))
    return 0
