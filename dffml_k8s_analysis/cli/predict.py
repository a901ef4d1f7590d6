"""Is this release note a bug fix? (and, for an all-kinds model, which kinds)

    k8s-analysis predict "Fix a panic in kubelet" --labels sig/node,area/kubelet
    k8s-analysis predict --test --models out/demo/kubernetes__kubernetes.sqlite

--labels gives the PR's labels as well, as the bot does. --models reads the
version that serves in a model directory or a store (the demo's, the pipeline's).

--test runs the built-in bug-like and non-bug example notes and says
whether each was classified as expected; the exit status is 1 when one fails.
"""
import argparse

from .options import add_models_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="release note text")
    parser.add_argument("--labels", default="", metavar="L1,L2",
                        help="the PR's labels, comma-separated (sig/* and area/* are used, and docs/linked when its "
                             "```docs block links documentation), e.g. sig/node,area/kubelet")
    parser.add_argument("--test", action="store_true", help="run the example notes; exit 1 when one is misclassified")
    add_models_option(parser)


def main(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from .options import serving_model

    if args.test == (args.text is not None):
        raise UserError("give either a release note TEXT or --test")
    with serving_model(args.models) as (predictor, _):
        return run_examples(predictor) if args.test else classify(predictor, args.text, args.labels)


def classify(predictor, text: str, labels: str) -> int:
    """Print the model's verdict on each of its labels for one note."""
    from ..errors import UserError

    try:
        row = predictor.predict_kinds([text], [[label.strip() for label in labels.split(",") if label.strip()]])[0]
    except ValueError as error:
        raise UserError(str(error)) from error
    for label, threshold in zip(predictor.labels, predictor.thresholds):
        verdict = "yes" if row[label] >= threshold else "no"
        print(f"{label}: {verdict} (probability {row[label]:.3f}, threshold {threshold:.2f})")
    return 0


def run_examples(predictor) -> int:
    """Print how the model classifies each example note; 1 when one is misclassified."""
    from ..model.examples import EXAMPLES

    failed = 0
    probabilities = predictor.predict([text for text, _ in EXAMPLES])
    for (text, expected), probability in zip(EXAMPLES, probabilities):
        matched = (probability >= predictor.threshold) == expected
        failed += not matched
        wanted = predictor.label if expected else f"not {predictor.label}"
        print(f"{'ok  ' if matched else 'FAIL'} {probability:.3f} want {wanted}: {text}")
    print(f"{len(EXAMPLES) - failed}/{len(EXAMPLES)} examples matched")
    return 1 if failed else 0
