"""``k8s-mlp``: the DFFML model that predicts a PR's kind from its release note.

    dffml train -model k8s-mlp -model-directory out/model -sources n=k8s-notes
    dffml accuracy -model k8s-mlp -model-directory out/model -sources n=k8s-notes -source-n-skip 4112
    dffml predict all -model k8s-mlp -model-directory out/model -sources n=k8s-notes -source-n-limit 3

Records need the text feature (``release_note``) and, to train or score, the
labels feature (``labels``: a list such as ["kind/bug", "sig/node"]); both
the ``k8s-notes`` and ``k8s-issues`` sources provide them. Records without a
text (PRs without a release note) are skipped. Each prediction is one
``kind/...`` target per label (value True/False, confidence = the
probability of the chosen value), plus ``band`` (``act``, ``suggest`` or ``none``, see
``classifier``) and, with ``sigs``, the top 3 ``sigs``. The labels' ``sig/*`` and ``area/*`` (and
``docs/linked``, which ``k8s-notes`` adds for a PR that linked documentation) are
also inputs, optional when predicting (``text_only`` ignores them). ``accuracy`` is the first label's accuracy
(``label``), or the micro F1 over all kinds with ``all_kinds``.
"""
import dataclasses
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
    word_ngrams: int = field("Word n-grams of the TF-IDF member and the MLP: 1..N", default=DEFAULTS.word_ngrams)
    nb_ngrams: int = field("Word n-grams of the NB-weighted member: 1..N", default=DEFAULTS.nb_ngrams)
    char_min: int = field("Shortest char n-gram of the char member", default=DEFAULTS.char_min)
    char_max: int = field("Longest char n-gram of the char member", default=DEFAULTS.char_max)
    min_df: int = field("Ignore n-grams in fewer training notes", default=DEFAULTS.min_df)
    c_word: float = field("Inverse regularisation C of the word TF-IDF logistic regression", default=DEFAULTS.c_word)
    c_nb: float = field("Inverse regularisation C of the NB-weighted logistic regression", default=DEFAULTS.c_nb)
    c_char: float = field("Inverse regularisation C of the char TF-IDF logistic regression", default=DEFAULTS.c_char)
    top_k: int = field("MLP: keep this many word n-grams, by chi2", default=DEFAULTS.top_k)
    units: int = field("MLP: units of its hidden layer", default=DEFAULTS.units)
    dropout: float = field("MLP: dropout after the hidden layer", default=DEFAULTS.dropout)
    l2: float = field("MLP: L2 weight decay on the hidden layer (0: none)", default=DEFAULTS.l2)
    learning_rate: float = field("MLP: Adam learning rate", default=DEFAULTS.learning_rate)
    epochs: int = field("MLP: epochs", default=DEFAULTS.epochs)
    batch_size: int = field("MLP: batch size", default=DEFAULTS.batch_size)
    threshold: float = field("Decision threshold (the original's 0.6) when fixed_threshold is set", default=0.6)
    fixed_threshold: bool = field("Use threshold instead of the one chosen on the validation split", default=False)
    validation: float = field("Newest share of the training data that chooses the thresholds", default=DEFAULTS.validation)
    precision: float = field("Precision of the act band on the validation split (its threshold is chosen for it)",
                             default=DEFAULTS.precision)
    text_only: bool = field("Ignore the PR's sig/*, area/* and docs/linked labels (by default they are optional inputs)",
                            default=not DEFAULTS.label_features)
    sigs: bool = field("Also learn the SIG router: the top 3 sig/* labels of a note, with probabilities", default=False)
    c_sig: float = field("Inverse regularisation C of the SIG router's logistic regressions", default=DEFAULTS.c_sig)
    seed: int = field("Random seed", default=DEFAULTS.seed)

    def params(self) -> classifier.Params:
        """The classifier's Params; ValueError naming a bad setting."""
        names = [f.name for f in dataclasses.fields(classifier.Params) if f.name not in ("threshold", "label_features")]
        return classifier.Params(threshold=self.threshold if self.fixed_threshold else None, label_features=not self.text_only,
                                 **{name: getattr(self, name) for name in names})


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
        n_val = classifier.validation_size(len(texts), params.validation)
        metrics = {
            "validation": validation,
            "validation_is": "the newest half of the validation split, with thresholds chosen on its older half",
            "thresholds": dict(zip(predictor.labels, predictor.thresholds)),
            "act": predictor.act,
            "sigs": {"names": predictor.sigs, "confident": predictor.confident},
            "sizes": {"train": len(texts) - n_val, "validation": n_val, "features": len(predictor.feature_names)},
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
        routes = predictor.route(texts) if predictor.sigs else [None] * len(texts)
        for record, row, routed in zip(records, probabilities, routes):
            for label, probability, threshold in zip(predictor.labels, row, predictor.thresholds):
                chosen = bool(probability >= threshold)
                record.predicted(label, chosen, float(probability if chosen else 1 - probability))
            record.predicted("band", predictor.band(row[0]), float(row[0]))
            if routed:
                record.predicted("sigs", [pick["sig"] for pick in routed["sigs"]], routed["sigs"][0]["probability"])
            yield record


@entrypoint("k8s-mlp")
class K8sMLPModel(Model):
    """A Keras MLP averaged with three linear members: a PR's kind (default kind/bug) from its release note."""

    CONFIG = K8sMLPModelConfig
    CONTEXT = K8sMLPModelContext
