"""``k8s-mlp``: the DFFML model that predicts a PR's kind from its release note.

    dffml train -model k8s-mlp -model-directory out/model -sources n=k8s-notes
    dffml accuracy -model k8s-mlp -model-directory out/model -sources n=k8s-notes -source-n-skip 4112
    dffml predict all -model k8s-mlp -model-directory out/model -sources n=k8s-notes -source-n-limit 3

Records need the text feature (``release_note``) and, to train or score, the
labels feature (``labels``: a list such as ["kind/bug", "sig/node"]); both
the ``k8s-notes`` and ``k8s-issues`` sources provide them. Records without a
text (PRs without a release note) are skipped. Each prediction is one
``kind/...`` target per label (value True/False, confidence = the
probability of the chosen value). ``accuracy`` is the first label's accuracy
(``label``), or the micro F1 over all kinds with ``all_kinds``.
"""
import pathlib
from typing import AsyncIterator, List, Tuple

from dffml import Accuracy, Model, ModelContext, ModelNotTrained, Record, SourcesContext, config, entrypoint, field

from . import artifacts, classifier

DEFAULTS = classifier.Params()


@config
class K8sMLPModelConfig:
    directory: pathlib.Path = field("Artifact directory", default=pathlib.Path("out/model"))
    text: str = field("Feature holding the release note text", default="release_note")
    labels: str = field("Feature holding the PR's labels (list of strings)", default="labels")
    label: str = field("Label to predict", default="kind/bug")
    all_kinds: bool = field("Predict every kind/* of the training data (multi-label)", default=False)
    ngrams: List[int] = field("Word n-gram range: min max", default_factory=lambda: [1, DEFAULTS.ngram_max])
    min_df: int = field("Ignore n-grams in fewer notes", default=DEFAULTS.min_df)
    max_df: float = field("Ignore n-grams in a larger share of notes", default=DEFAULTS.max_df)
    top_k: int = field("SelectKBest: keep this many n-grams", default=DEFAULTS.top_k)
    layers: int = field("Hidden layers", default=DEFAULTS.layers)
    units: int = field("Units per hidden layer", default=DEFAULTS.units)
    dropout: float = field("Dropout after each hidden layer", default=DEFAULTS.dropout)
    l2: float = field("L2 weight decay on the first layer (0: none)", default=DEFAULTS.l2)
    learning_rate: float = field("Adam learning rate", default=DEFAULTS.learning_rate)
    epochs: int = field("Maximum epochs", default=DEFAULTS.epochs)
    batch_size: int = field("Batch size", default=DEFAULTS.batch_size)
    patience: int = field("Early stopping patience (epochs without lower validation loss)", default=DEFAULTS.patience)
    threshold: float = field("Decision threshold (the original's 0.6) when fixed_threshold is set", default=0.6)
    fixed_threshold: bool = field("Use threshold instead of the max-F1 one of the validation split", default=False)
    validation: float = field("Newest share of the training data held out for early stopping and thresholds", default=DEFAULTS.validation)
    label_features: bool = field("Also learn from the PR's sig/* and area/* labels", default=False)
    seed: int = field("Random seed", default=DEFAULTS.seed)

    def params(self) -> classifier.Params:
        if len(self.ngrams) != 2 or self.ngrams[0] != 1 or self.ngrams[1] < 1:
            raise ValueError(f"ngrams must be '1 N' with N >= 1, got {self.ngrams}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be 0 (no weight decay) or more, got {self.l2}")
        return classifier.Params(
            ngram_max=self.ngrams[1], min_df=self.min_df, max_df=self.max_df, top_k=self.top_k, layers=self.layers,
            units=self.units, dropout=self.dropout, l2=self.l2, learning_rate=self.learning_rate, epochs=self.epochs,
            batch_size=self.batch_size, patience=self.patience, validation=self.validation,
            threshold=self.threshold if self.fixed_threshold else None, label_features=self.label_features, seed=self.seed,
        )


class K8sMLPModelContext(ModelContext):
    async def examples(self, sources: SourcesContext, need_labels: bool = True) -> Tuple[List[Record], List[str], List[list]]:
        """Records with a text (and labels), oldest first: (records, texts, label lists)."""
        cfg = self.parent.config
        wanted = [cfg.text] + ([cfg.labels] if need_labels else [])
        records = [record async for record in sources.with_features(wanted) if record.feature(cfg.text) is not None]
        records.sort(key=lambda record: int(record.key) if str(record.key).isdigit() else -1)  # PR order
        texts = [record.feature(cfg.text) for record in records]
        label_lists = [list(record.feature(cfg.labels) or []) if cfg.labels in record.features() else [] for record in records]
        return records, texts, label_lists

    def predictor(self) -> classifier.Predictor:
        try:
            return artifacts.cached_predictor(self.parent.config.directory)
        except artifacts.ArtifactError as error:
            raise ModelNotTrained(str(error)) from error

    async def train(self, sources: SourcesContext) -> None:
        cfg = self.parent.config
        _, texts, label_lists = await self.examples(sources)
        labels = [cfg.label]
        if cfg.all_kinds:
            labels += [kind for kind in classifier.kinds_of(label_lists) if kind != cfg.label]
        params = cfg.params()
        predictor, validation = classifier.train(texts, label_lists, labels, params)
        n_val = int(len(texts) * params.validation)
        metrics = {
            "validation": validation,
            "thresholds": dict(zip(predictor.labels, predictor.thresholds)),
            "sizes": {"train": len(texts) - n_val, "validation": n_val, "features": len(predictor.vectorizer.columns)},
            "seed": params.seed,
            "params": vars(params),
        }
        artifacts.save(cfg.directory, predictor, metrics)

    async def accuracy(self, sources: SourcesContext) -> Accuracy:
        predictor = self.predictor()
        _, texts, label_lists = await self.examples(sources)
        result = classifier.evaluate(predictor, texts, label_lists)
        return Accuracy(result["micro_f1"] if len(predictor.labels) > 1 else result["accuracy"])

    async def predict(self, sources: SourcesContext) -> AsyncIterator[Record]:
        predictor = self.predictor()
        records, texts, label_lists = await self.examples(sources, need_labels=False)
        if not records:
            return
        probabilities = predictor.probabilities(texts, label_lists)
        for record, row in zip(records, probabilities):
            for label, probability, threshold in zip(predictor.labels, row, predictor.thresholds):
                chosen = bool(probability >= threshold)
                record.predicted(label, chosen, float(probability if chosen else 1 - probability))
            yield record


@entrypoint("k8s-mlp")
class K8sMLPModel(Model):
    """TF-IDF n-grams -> SelectKBest -> Keras MLP: a PR's kind (default kind/bug) from its release note."""

    CONFIG = K8sMLPModelConfig
    CONTEXT = K8sMLPModelContext
