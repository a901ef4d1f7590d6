"""``k8s-analysis predict``: is this release note a bug fix? (and, for an all-kinds model, which kinds)

``--labels sig/node,area/kubelet`` gives the PR's labels as well, as the bot does.

``--test`` runs the built-in bug-like and non-bug example notes and says
whether each was classified as expected; the exit status is 1 when one fails.
"""
import argparse

from ..model.examples import EXAMPLES
from .train import DEFAULT_MODEL_DIR

HELP = "classify a release note TEXT, or --test the example notes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="release note text")
    parser.add_argument("--labels", default="", metavar="L1,L2",
                        help="the PR's labels, comma-separated (sig/* and area/* are used, and docs/linked when its "
                             "```docs block links documentation), e.g. sig/node,area/kubelet")
    parser.add_argument("--test", action="store_true", help="run the example notes; exit 1 when one is misclassified")
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="artifact directory (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..model.artifacts import ArtifactError, load_predictor

    if args.test == (args.text is not None):
        raise UserError("give either a release note TEXT or --test")
    try:
        predictor = load_predictor(args.model_dir)
    except ArtifactError as error:
        raise UserError(str(error)) from error
    if not args.test:
        try:
            labels = [label.strip() for label in args.labels.split(",") if label.strip()]
            row = predictor.predict_kinds([args.text], [labels])[0]
        except ValueError as error:
            raise UserError(str(error)) from error
        for label, threshold in zip(predictor.labels, predictor.thresholds):
            verdict = "yes" if row[label] >= threshold else "no"
            print(f"{label}: {verdict} (probability {row[label]:.3f}, threshold {threshold:.2f})")
        return 0
    failed = 0
    probabilities = predictor.predict([text for text, _ in EXAMPLES])
    for (text, expected), probability in zip(EXAMPLES, probabilities):
        matched = (probability >= predictor.threshold) == expected
        failed += not matched
        wanted = predictor.label if expected else f"not {predictor.label}"
        print(f"{'ok  ' if matched else 'FAIL'} {probability:.3f} want {wanted}: {text}")
    print(f"{len(EXAMPLES) - failed}/{len(EXAMPLES)} examples matched")
    return 1 if failed else 0
