"""Training and prediction as DFFML operations (``dataflows/train.yaml``, ``dataflows/predict.yaml``).

Training: ``k8s.training_records`` reads a ``k8s-issues`` store (pull requests: body and
labels) or a ``k8s-notes`` file (notes and labels) through the DFFML source,
``k8s.extract_notes`` takes each body's release note (the records' rules) and drops
records without one, ``k8s.train_model`` trains the ``k8s-mlp`` model on the rest.

Prediction: a note (``release_note``), or a PR body (``github.body``, through
``k8s.release_note``), and optional labels become ``k8s.note_features``, the record features
of DFFML's own ``dffml.model.predict`` operation; ``k8s.probabilities`` turns its answer
(value and confidence per label) back into each label's probability. A body without a
release note gets no prediction: its probabilities are ``{}``.
"""
import json
from typing import Any, Dict, List, Optional

from dffml import Definition, Record, Stage, load, op, train
from dffml.operation.model import model_predict

from dffml_k8s_analysis.model.plugin import K8sMLPModel
from dffml_k8s_analysis.records.issues_source import K8sIssuesSource
from dffml_k8s_analysis.records.notes_source import ReleaseNotesSource
from dffml_k8s_analysis.records.parse import model_inputs, release_note

from . import parse
from .analyze import Records
from .vectorize import LABELS, NOTES

SOURCE = Definition(name="train.source", primitive="str", default="k8s-issues")
PATH = Definition(name="train.path", primitive="str", default="")
MODEL_DIR = Definition(name="train.model_dir", primitive="str", default="out/model")
CONFIG = Definition(name="train.config", primitive="Dict[str, Any]", default=None)  # None: the defaults
RECORDS = Definition(name="train.records", primitive="List[Dict[str, Any]]")
TRAINED = Definition(name="train.trained", primitive="Dict[str, Any]")
FEATURES = model_predict.op.inputs["features"]
PREDICTION = model_predict.op.outputs["prediction"]
PROBABILITIES = Definition(name="predict.probabilities", primitive="Dict[str, float]")


def source_of(name: str, path: str):
    """The DFFML source ``name`` (k8s-issues: its pull requests) over ``path`` ("": the default notes file)."""
    if name == "k8s-issues":
        if not path:
            raise ValueError("train.path: the k8s-issues source needs the store's path")
        return K8sIssuesSource(store=path, pull_requests=True)
    if name == "k8s-notes":
        return ReleaseNotesSource(path=path) if path else ReleaseNotesSource()
    raise ValueError(f"train.source must be k8s-issues or k8s-notes, got {name!r}")


@op(name="k8s.training_records", inputs={"source": SOURCE, "path": PATH}, outputs={"records": RECORDS})
async def training_records(source: str, path: str) -> Dict[str, Any]:
    """Each record's key, labels and body (k8s-issues) or release note (k8s-notes)."""
    kept = "body" if source == "k8s-issues" else "release_note"
    records = Records()
    async for record in load(source_of(source, path)):
        features = record.features([kept, "labels"])
        records.append({"key": record.key, kept: features.get(kept), "labels": features.get("labels") or []})
    return {"records": records}


@op(name="k8s.extract_notes", inputs={"records": RECORDS}, outputs={"notes": NOTES})
def extract_notes(records: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The records that have a release note (extracted from their body, if they have one), with it;
    a body that links documentation adds ``docs/linked`` to the labels."""
    notes = Records()
    for record in records:
        note, labels = record.get("release_note"), record["labels"]
        if "body" in record:
            found = release_note(record["body"])
            note, labels = found.text if found else None, model_inputs(labels, record["body"])
        if note:
            notes.append({"key": record["key"], "release_note": note, "labels": labels})
    return {"notes": notes}


@op(name="k8s.train_model", inputs={"notes": NOTES, "model_dir": MODEL_DIR, "config": CONFIG},
    outputs={"trained": TRAINED}, stage=Stage.OUTPUT)
async def train_model(notes: List[Dict[str, Any]], model_dir: str, config: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Train ``k8s-mlp`` (``config``: its settings by field name, as ``-model-...`` gives them) into ``model_dir``."""
    model = K8sMLPModel(**dict(config or {}, directory=model_dir))
    records = [Record(note["key"], data={"features": {"release_note": note["release_note"], "labels": note["labels"]}})
               for note in notes]
    await train(model, *records)
    metrics = json.loads((model.config.directory / "metrics.json").read_text())
    return {"trained": {"directory": model_dir, "sizes": metrics["sizes"], "thresholds": metrics["thresholds"],
                        "validation": {key: metrics["validation"][key] for key in ("accuracy", "f1")}}}


@op(name="k8s.note_features", inputs={"note": parse.RELEASE_NOTE, "labels": LABELS},
    outputs={"features": FEATURES, "probabilities": PROBABILITIES})
def note_features(note: Optional[str], labels: Optional[List[str]]) -> Dict[str, Any]:
    """The record features ``k8s-mlp`` predicts from; no note (a PR body without one): no probabilities."""
    if note is None:
        return {"probabilities": {}}
    return {"features": {"release_note": note, "labels": list(labels or [])}}


@op(name="k8s.probabilities", inputs={"prediction": PREDICTION}, outputs={"probabilities": PROBABILITIES})
def probabilities(prediction: Dict[str, Any]) -> Dict[str, Any]:
    """label -> probability, from DFFML's prediction (the confidence is that of the chosen value); of the
    labels' yes/no answers only, not the model's ``band`` and ``sigs``."""
    return {"probabilities": {label: answer["confidence"] if answer["value"] else 1 - answer["confidence"]
                              for label, answer in prediction.items() if isinstance(answer["value"], bool)}}
