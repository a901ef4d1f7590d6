"""The learning stages through the stock ``dffml`` CLI: vectorization operations, the train and predict
dataflows, and ``dffml train/accuracy/predict`` with DFFML's ``df`` source over k8s-issues records."""
import asyncio
import json
import pathlib

import numpy as np
import pytest
from dffml import Input

from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running
from dffml_k8s_analysis.flows import VECTOR, run_flow
from dffml_k8s_analysis.model import artifacts, classifier, features
from dffml_k8s_analysis.records.training_data import from_store
from operations import vectorize

from conftest import BUG, OTHER, ROOT, export, run_cli

# A small recipe: the emulator's few hundred notes, in seconds
SMALL = {"min_df": 1, "top_k": 2000, "units": 8, "epochs": 10, "validation": 0.25}
BODY = "What this PR does.\r\n```release-note\r\n{}\r\n```\r\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store exported from the emulated GitHub: 1,200 items, about 500 PRs with a release note."""
    path = tmp_path_factory.mktemp("store") / "kubernetes__kubernetes.sqlite"
    with running(EmulatorConfig(items=1200, use_notes=False)) as server:
        assert export(server.url, path) == 0
    return path


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    """``dataflows/train.yaml`` run by ``dffml dataflow run`` on the store: (its output, the model directory)."""
    model_dir = tmp_path_factory.mktemp("trained") / "model"
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/train.yaml", "-inputs",
                     "k8s-issues=train.source", f"{store}=train.path", f"{model_dir}=train.model_dir",
                     f"{SMALL!r}=train.config")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["trained"], model_dir


def in_workdir(tmp_path, model_dir, store=None) -> pathlib.Path:
    """A working directory whose out/model (and data/ store) are the given ones, as the dataflows expect."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model").symlink_to(model_dir)
    if store:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "kubernetes__kubernetes.sqlite").symlink_to(store)
    return tmp_path


def test_the_train_dataflow_trains_on_every_release_note_of_the_store(trained, store):
    summary, model_dir = trained
    texts, _ = from_store(store)
    assert summary["sizes"]["train"] + summary["sizes"]["validation"] == len(texts) > 300
    predictor = artifacts.load_predictor(model_dir)
    bug, other = predictor.predict([BUG, OTHER])
    assert bug > predictor.threshold > other


def test_the_predict_dataflow_gives_the_models_probability_for_a_note_or_a_body(trained, tmp_path):
    _, model_dir = trained
    workdir = in_workdir(tmp_path, model_dir)
    # the JSON export equals the YAML one (test_export checks both against flows.py): one run shows dffml reads it
    runs = {
        "note": ("yaml", f"{BUG}=release_note"),
        "body": ("yaml", f"{BODY.format(BUG)}=github.body"),
        "none": ("yaml", "no note at all=github.body"),
        "note from predict.json": ("json", f"{BUG}=release_note"),
    }
    found = {}
    for name, (suffix, inputs) in runs.items():
        flow = str(ROOT / "dataflows" / f"predict.{suffix}")
        result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", flow, "-inputs", inputs, cwd=workdir)
        assert result.returncode == 0, result.stderr
        found[name] = json.loads(result.stdout)[0]["predict.probabilities"]
    expected = artifacts.load_predictor(model_dir).predict([BUG])[0]
    assert found["note"] == found["body"] == found["note from predict.json"] == {
        "kind/bug": pytest.approx(expected, abs=1e-9)}
    assert found["none"] == {}


def test_dffml_train_accuracy_predict_with_the_df_source_running_the_extraction_dataflow(store, tmp_path):
    model = ["-model", "k8s-mlp", "-model-directory", str(tmp_path / "model")]
    model += [part for name, value in SMALL.items() for part in (f"-model-{name}", str(value))]
    source = ["-sources", "d=df", "-source-d-source", "k8s-issues", "-source-d-source-store", str(store),
              "-source-d-source-pull_requests", "-source-d-dataflow", "dataflows/extract.yaml",
              "-source-d-features", "body:str:1"]
    assert run_cli("dffml", "train", *model, *source).returncode == 0
    scored = run_cli("dffml", "accuracy", *model, *source)
    assert scored.returncode == 0, scored.stderr
    assert float(scored.stdout.strip()) > 0.9
    predicted = run_cli("dffml", "predict", "all", *model, *source)
    assert predicted.returncode == 0, predicted.stderr
    records = json.loads(predicted.stdout)
    texts, _ = from_store(store)
    assert len(records) == len(texts)  # the PRs whose body has a release note, extracted by the dataflow
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["sizes"]["train"] + metrics["sizes"]["validation"] == len(texts)


def test_the_transform_operation_gives_the_vectors_the_model_predicts_from(trained):
    _, model_dir = trained
    predictor = artifacts.load_predictor(model_dir)
    got = run(VECTOR, Input(value=BUG, definition=vectorize.parse.RELEASE_NOTE),
              Input(value=str(model_dir), definition=vectorize.DIRECTORY))["vectorize.vector"]
    rows = features.transform(predictor.features, [BUG])
    assert set(got) == {"word", "nb", "char"}
    for name, row in rows.items():
        row = row.toarray()[0]
        terms = predictor.features.vocab[name]
        assert got[name] == {terms[i]: pytest.approx(float(row[i])) for i in np.flatnonzero(row)}
    assert len(got["word"]) >= 3  # "fixed", "panic", "kubelet", ...


def test_the_fit_operation_writes_a_vectorizer_the_transform_operation_reads(store, tmp_path):
    texts, label_lists = from_store(store)
    directory = tmp_path / "vectorizer"
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/vectorize.yaml", "-inputs",
                     "k8s-issues=train.source", f"{store}=train.path", f"{directory}=vectorize.out")
    assert result.returncode == 0, result.stderr
    fitted = json.loads(result.stdout)[0]["vectorize.fitted"]
    assert fitted["notes"] == len(texts)
    assert sorted(path.name for path in directory.iterdir()) == sorted(artifacts.VECTORIZER_FILES)
    loaded = artifacts.load_features(directory)
    expected, _ = features.fit_features(texts, label_lists, classifier.Params())
    assert loaded.vocab == expected.vocab and fitted["features"] == {k: len(v) for k, v in expected.vocab.items()}
    vector = run(VECTOR, Input(value=BUG, definition=vectorize.parse.RELEASE_NOTE),
                 Input(value=str(directory), definition=vectorize.DIRECTORY))["vectorize.vector"]
    assert vector["word"] and set(vector["word"]) <= set(loaded.vocab["word"])


def test_fitting_into_a_model_directory_is_refused(trained):
    _, model_dir = trained
    with pytest.raises(ValueError, match="holds a trained model"):
        vectorize.fit_vectorizer([{"release_note": BUG, "labels": []}], str(model_dir))
    assert artifacts.load_predictor(model_dir)


def test_a_directory_without_a_vectorizer_is_a_clear_error(tmp_path):
    with pytest.raises(artifacts.ArtifactError, match="no complete k8s-mlp vectorizer in .*: missing vectorizer.json"):
        artifacts.load_features(tmp_path)
    with pytest.raises(ValueError, match="must be a string"):
        features.transform(features.Features.from_state(
            {"settings": dict.fromkeys(features.Features.SETTINGS, 1), "vocab": {"word": [], "nb": [], "char": []}},
            {"word_idf": np.zeros(0), "char_idf": np.zeros(0)}), [None])


def run(dataflow, *inputs) -> dict:
    return asyncio.run(run_flow(dataflow, list(inputs)))


def test_a_body_that_links_documentation_trains_with_the_docs_input():
    from dffml_k8s_analysis.records.notes_source import labels_of
    from operations.learn import extract_notes

    body = "```release-note\nAdd X\n```\n```docs\n- [KEP]: https://git.k8s.io/enhancements/keps/1\n```\n"
    records = [{"key": "1", "body": body, "labels": ["kind/feature"]},
               {"key": "2", "body": body.split("```docs")[0], "labels": ["kind/bug"]}]
    assert [note["labels"] for note in extract_notes(records)["notes"]] == [["kind/feature", "docs/linked"], ["kind/bug"]]
    assert labels_of({"kinds": ["feature"], "documentation": [{"type": "KEP"}]}) == ["kind/feature", "docs/linked"]
    assert labels_of({"kinds": ["bug"], "sigs": ["node"]}) == ["kind/bug", "sig/node"]
