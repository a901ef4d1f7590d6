"""Train the k8s-mlp model (kind/bug, or every kind) through DFFML.

    k8s-analysis train --model-dir out/model
    k8s-analysis train --source store --repo kubernetes/kubernetes --model-dir out/model --tune

The data are the shared release notes, every era by default (--source notes), or the pull requests
with a release note in a repository's exported store, SQLite or PostgreSQL
(--source store, --repo, --store). --tune first runs the whole tuning grid
(see k8s-analysis tune) on the newest 15% of the data as validation, prints
the table and trains with the best point. Writes the model's files (see
model/artifacts.py) into --model-dir.
"""
import argparse
import json

from .options import add_repo_options

DEFAULT_MODEL_DIR = "out/model"


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """What train and tune learn from (--source, --notes, --repo, --store) and the seed they learn with."""
    parser.add_argument("--source", choices=["notes", "store"], default="notes", help="training data (default: %(default)s)")
    parser.add_argument("--notes", nargs="+", metavar="FILE",
                        help="release notes files (default: $K8S_NOTES or every ../shared/data/k8s-release-notes*.jsonl.xz)")
    add_repo_options(parser, base_url=False)  # --source store: the repository's store
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")


def load_examples(args: argparse.Namespace):
    """(texts, label lists) oldest first, from the chosen source."""
    from ..errors import UserError
    from ..records import training_data
    from ..store import StoreError, repo_spec

    try:
        if args.source == "store":
            return training_data.from_store(repo_spec(args.store, args.repo))
        return training_data.from_notes(args.notes)
    except (FileNotFoundError, StoreError) as error:
        raise UserError(str(error)) from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser)
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="artifact directory (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="the MLP's epochs")
    parser.add_argument("--all-kinds", action="store_true", help="multi-label: every kind/* label, not only kind/bug")
    parser.add_argument("--text-only", action="store_true", help="ignore the PR's sig/area labels (default: learn from them)")
    parser.add_argument("--sigs", action="store_true", help="also learn the SIG router (the top 3 sig/* labels of a note)")
    parser.add_argument("--tune", action="store_true", help="search the grid first and train with the best point")


def main(args: argparse.Namespace) -> int:
    import pathlib
    from dffml import noasync

    from ..model.plugin import K8sMLPModel

    texts, label_lists = load_examples(args)
    config = {"directory": args.model_dir, "all_kinds": args.all_kinds, "text_only": args.text_only, "sigs": args.sigs,
              "seed": args.seed}
    if args.epochs:
        config["epochs"] = args.epochs
    if args.tune:
        best = tune_all(texts, label_lists, pathlib.Path(args.model_dir) / "tuning", args.seed)
        config.update(best)
    model = K8sMLPModel(**config)
    noasync.train(model, *[{"release_note": text, "labels": labels} for text, labels in zip(texts, label_lists)])
    metrics = json.loads((pathlib.Path(args.model_dir) / "metrics.json").read_text())
    validation, act = metrics["validation"], metrics["validation"]["act"]
    print(f"trained on {metrics['sizes']['train']} notes, validated on {metrics['sizes']['validation']}; on its newest half: "
          f"accuracy {validation['accuracy']:.4f}, F1({model.config.label}) {validation['f1']:.4f}"
          + (f", micro F1 {validation['micro_f1']:.4f}, macro F1 {validation['macro_f1']:.4f}" if "micro_f1" in validation else "")
          + f"; act band: p >= {metrics['act']:.3f} (" + (
              f"on the newest half, as chosen on the older half (p >= {act['threshold']:.3f}): precision "
              f"{act['precision']:.3f}, recall {act['recall']:.3f})" if act["threshold"] <= 1 else
              "the older half alone is too small to choose one with 95% confidence)"))
    if validation.get("sigs", {}).get("notes"):
        sigs = validation["sigs"]
        print(f"SIG router: top-1 {sigs['top1']:.3f}, top-3 {sigs['top3']:.3f}, confident band precision "
              f"{sigs['confident_precision']:.3f} on {sigs['confident_coverage']:.0%} of the notes")
    print(f"model: {args.model_dir}")
    return 0


def tune_all(texts, label_lists, out_dir, seed: int) -> dict:
    """Run every grid point in this process; print the table; the best point's parameters."""
    from tqdm import tqdm

    from ..model import classifier, tuning

    base = classifier.Params(seed=seed)
    for index in tqdm(range(len(tuning.grid())), desc="tuning", unit="point"):
        tuning.run_point(index, texts, label_lists, out_dir, base=base)
    summary = tuning.summarize(out_dir)
    print(tuning.table(summary))
    print(f"best: {summary['why']}")
    return summary["best"]["params"]
