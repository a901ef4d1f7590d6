"""The k8s-mlp model: features, learning, labels as inputs, artifacts, DFFML CLI round trip, determinism, bad input."""
import dataclasses
import json
import lzma
import pathlib
import random
import shutil

import numpy as np
import pytest
import scipy.sparse as sp
from dffml import noasync

from dffml_k8s_analysis.model import artifacts, classifier, features, text, tuning
from dffml_k8s_analysis.model.plugin import K8sMLPModel
from dffml_k8s_analysis.records.notes_source import ReleaseNotesSource

from conftest import real_notes_missing, run_cli

PARTS = ["kubelet", "scheduler", "kube-proxy", "apiserver", "kubectl", "etcd", "csi", "dns", "ingress", "volume"]
BUG = ["fix a crash in {}", "fixed panic when {} restarts", "fix race condition in {}", "fixes leak in {} on error"]
OTHER = ["add support for {} flag", "promote {} api to ga", "update {} to new version", "introduce {} metrics"]
FAST = classifier.Params(min_df=1, top_k=500, units=8, epochs=10, validation=0.25)


def toy_notes(count: int, seed: int = 1):
    """Separable toy release notes: bug fixes vs. features, oldest first."""
    rng = random.Random(seed)
    notes = []
    for number in range(1, count + 1):
        bug = rng.random() < 0.5
        text = rng.choice(BUG if bug else OTHER).format(rng.choice(PARTS))
        notes.append({"pr_number": 1000 + number, "text": text, "kinds": ["bug" if bug else "feature"],
                      "sigs": [rng.choice(["node", "network"])], "areas": ["kubelet"] if bug else []})
    return notes


def examples(notes):
    from dffml_k8s_analysis.records.notes_source import labels_of

    return [note["text"] for note in notes], [labels_of(note) for note in notes]


@pytest.fixture(scope="module")
def notes_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("notes") / "notes.jsonl.xz"
    with lzma.open(path, "wt") as fh:
        for note in toy_notes(300):
            fh.write(json.dumps(note) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A toy model trained in process, saved and reloaded: (predictor, reloaded, directory)."""
    texts, labels = examples(toy_notes(240))
    predictor, validation = classifier.train(texts, labels, ["kind/bug"], FAST)
    directory = tmp_path_factory.mktemp("model") / "model"
    artifacts.save(directory, predictor, {"validation": validation})
    return predictor, artifacts.load_predictor(directory), directory


def test_learns_a_separable_problem(trained):
    predictor, _, _ = trained
    texts, labels = examples(toy_notes(100, seed=7))
    found = classifier.evaluate(predictor, texts, labels)
    assert found["accuracy"] >= 0.95
    assert found["f1"] >= 0.95


def test_saved_model_reloads_and_predicts_the_same(trained):
    predictor, reloaded, _ = trained
    texts, _ = examples(toy_notes(50, seed=3))
    assert np.allclose(predictor.predict(texts), reloaded.predict(texts), atol=1e-6)
    assert (reloaded.label, reloaded.threshold) == (predictor.label, predictor.threshold)


def test_numpy_forward_pass_matches_keras():
    rng = np.random.default_rng(0)
    X = sp.random(300, 40, density=0.2, random_state=0, format="csr", dtype=np.float32)
    Y = (rng.random((300, 2)) < 0.4).astype(np.float32)
    params = classifier.Params(top_k=40, epochs=2)
    trainer = classifier.MLPTrainer(0)
    w = trainer.train(X, Y, np.ones(300), False, params)
    coo = X.tocoo()
    sparse = trainer.tf.SparseTensor(np.column_stack([coo.row, coo.col]).astype(np.int64), coo.data, coo.shape)
    keras = np.asarray(trainer.model(sparse, training=False))
    numpy = classifier.sigmoid(np.maximum(X @ w[0] + w[1], 0) @ w[2] + w[3])
    assert np.max(np.abs(keras - numpy)) < 1e-5


def test_artifacts_hold_no_pickle_and_no_keras_file(trained):
    directory = trained[2]
    assert sorted(path.name for path in directory.iterdir()) == sorted(artifacts.FILES)
    with np.load(str(directory / "arrays.npz"), allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)


def test_an_object_array_is_refused_and_never_unpickled(tmp_path, trained):
    directory = tmp_path / "model"
    shutil.copytree(trained[2], directory)
    ran = tmp_path / "ran"
    with np.load(str(directory / "arrays.npz")) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["mlp_w0"] = np.array([Payload(ran)], dtype=object)
    np.savez(str(directory / "arrays.npz"), **arrays)
    with pytest.raises(artifacts.ArtifactError, match="corrupted .*arrays.npz"):
        artifacts.load_predictor(directory)
    assert not ran.exists()


class Payload:
    """Unpickling it would create a file: proof that loading ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_a_model_of_the_pickle_format_gets_a_clear_error(tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    for name in ("model.keras", "vectorizer.pkl", "selector.pkl", "features.json", "metrics.json", "predictor.json"):
        (directory / name).write_text("{}")
    with pytest.raises(artifacts.ArtifactError, match=r"older format \(pickles\).*not loaded.*k8s-analysis train"):
        artifacts.load_predictor(directory)


@pytest.mark.parametrize("old", [2, 3])
def test_a_model_of_an_older_format_gets_a_clear_error(tmp_path, trained, old):
    directory = tmp_path / "model"
    shutil.copytree(trained[2], directory)
    meta = json.loads((directory / "predictor.json").read_text())
    del meta["act"], meta["sigs"], meta["confident"]  # what format 3 had not
    (directory / "predictor.json").write_text(json.dumps(dict(meta, format=old, label_features=False)))
    with pytest.raises(artifacts.ArtifactError, match=rf"older format \(format {old}\), which is not loaded; run `k8s-analysis train"):
        artifacts.load_predictor(directory)


def test_same_seed_same_model_other_seed_differs():
    texts, labels = examples(toy_notes(120))
    runs = [classifier.train(texts, labels, ["kind/bug"], FAST)[0].predict(texts[:20]) for _ in range(2)]
    other = classifier.train(texts, labels, ["kind/bug"], classifier.Params(**{**vars(FAST), "seed": 1}))[0]
    assert runs[0] == runs[1]
    assert other.predict(texts[:20]) != runs[0]


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["list"]])
def test_non_string_texts_are_rejected(trained, bad):
    with pytest.raises(ValueError, match="must be a string, got " + type(bad).__name__):
        trained[1].predict([bad])


def test_one_string_instead_of_a_list_is_rejected(trained):
    with pytest.raises(ValueError, match="list of strings"):
        trained[1].predict("fix a crash")


def test_empty_huge_and_foreign_texts_give_probabilities(trained):
    predictor = trained[1]
    huge = "fix a crash in kubelet " * 50_000  # ~1 MB
    empty, big, foreign = predictor.predict(["", huge, "修复 kubelet 重启时崩溃的问题"])
    assert all(0.0 <= p <= 1.0 for p in (empty, big, foreign))
    assert big == predictor.predict([huge[: classifier.MAX_CHARS]])[0]
    assert empty == predictor.predict(["   "])[0]  # no known words: the same answer


def test_metrics_and_artifacts(tmp_path, notes_file):
    directory = tmp_path / "model"
    model = K8sMLPModel(directory=directory, epochs=30, min_df=1, top_k=500, units=8, validation=0.25, seed=3)
    noasync.train(model, ReleaseNotesSource(path=notes_file))
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["seed"] == 3
    assert metrics["sizes"] == {"train": 225, "validation": 75, "features": len(json.loads((directory / "features.json").read_text()))}
    bug = metrics["validation"]["labels"]["kind/bug"]
    newer = 75 - 75 // 2  # scored on the validation split's newer half, its thresholds chosen on the older half
    assert sum(map(sum, bug["confusion_matrix"])) == newer
    assert metrics["validation"]["act"]["threshold"] >= 0.05 and metrics["act"] >= 0.05
    for row in bug["confusion_matrix_normalized"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-3)
    classes = bug["classes"]
    assert set(classes) == {"kind/bug", "not kind/bug"}
    assert classes["kind/bug"]["support"] + classes["not kind/bug"]["support"] == newer
    assert 0.0 < metrics["thresholds"]["kind/bug"] < 1.0
    assert set(artifacts.FILES) <= {path.name for path in directory.iterdir()}
    assert noasync.accuracy(model, ReleaseNotesSource(path=notes_file)) >= 0.95


def test_all_kinds_mode_predicts_each_kind(tmp_path, notes_file):
    notes = toy_notes(300)
    texts, labels = examples(notes)
    labels = [labs + (["kind/cleanup"] if "kind/feature" in labs and i % 3 == 0 else []) for i, labs in enumerate(labels)]
    kinds = ["kind/bug"] + [k for k in classifier.kinds_of(labels) if k != "kind/bug"]
    predictor, validation = classifier.train(texts, labels, kinds, FAST)
    assert predictor.labels == ["kind/bug", "kind/cleanup", "kind/feature"]
    assert len(predictor.thresholds) == 3
    assert {"micro_f1", "macro_f1"} <= set(validation)
    row = predictor.predict_kinds(["fix a crash in etcd"])[0]
    assert row["kind/bug"] > 0.5 > row["kind/feature"]


def test_dffml_cli_round_trip(tmp_path, notes_file):
    model = ["-model", "k8s-mlp", "-model-directory", str(tmp_path / "m"), "-model-epochs", "30", "-model-min_df", "1",
             "-model-top_k", "500", "-model-units", "8", "-model-validation", "0.25"]
    source = ["-sources", "n=k8s-notes", "-source-n-path", str(notes_file)]
    trained = run_cli("dffml", "train", *model, *source, "-source-n-limit", "200")
    assert trained.returncode == 0, trained.stderr
    scored = run_cli("dffml", "accuracy", *model, *source, "-source-n-skip", "200")
    assert scored.returncode == 0, scored.stderr
    assert float(scored.stdout.strip()) >= 0.95
    predicted = run_cli("dffml", "predict", "all", *model, *source, "-source-n-skip", "290")
    assert predicted.returncode == 0, predicted.stderr
    records = json.loads(predicted.stdout)
    truth = {note["pr_number"]: "bug" in note["kinds"] for note in toy_notes(300)}
    assert len(records) == 10
    for record in records:
        assert record["prediction"]["kind/bug"]["value"] == truth[int(record["key"])]


def test_k8s_analysis_predict_reports_each_example(trained):
    directory = str(trained[2])
    one = run_cli("k8s-analysis", "predict", "fix a crash in dns", "--model-dir", directory)
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("kind/bug: yes")
    test = run_cli("k8s-analysis", "predict", "--test", "--model-dir", directory)
    failures = test.stdout.count("FAIL ")
    assert f"{8 - failures}/8 examples matched" in test.stdout
    assert test.returncode == (1 if failures else 0)


def test_missing_model_says_path_and_what_to_run(tmp_path):
    result = run_cli("k8s-analysis", "predict", "fix", "--model-dir", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert str(tmp_path / "nope") in result.stderr and "k8s-analysis train" in result.stderr


@pytest.mark.parametrize("name, damage", [
    ("arrays.npz", b"truncated"),
    ("vectorizer.json", b"{"),
    ("predictor.json", b"{"),
    ("predictor.json", b'{"format": 99, "labels": ["kind/bug"], "thresholds": [0.5], "active": ["kind/bug"]}'),
])
def test_corrupted_artifacts_name_the_file(tmp_path, trained, name, damage):
    directory = tmp_path / "model"
    directory.mkdir()
    for path in trained[2].iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / name).write_bytes(damage)
    with pytest.raises(artifacts.ArtifactError, match=f"corrupted .*{name}.*k8s-analysis train"):
        artifacts.load_predictor(directory)


def test_incomplete_directory_lists_missing_files(tmp_path, trained):
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "metrics.json").write_text("{}")
    with pytest.raises(artifacts.ArtifactError, match="missing vectorizer.json, arrays.npz"):
        artifacts.load_predictor(directory)


def test_dffml_predict_before_training(tmp_path, notes_file):
    from dffml import ModelNotTrained

    with pytest.raises(ModelNotTrained, match=str(tmp_path / "empty")):
        list(noasync.predict(K8sMLPModel(directory=tmp_path / "empty"), ReleaseNotesSource(path=notes_file, limit=2)))


def test_notes_source_records_and_missing_file(tmp_path, notes_file):
    records = list(noasync.load(ReleaseNotesSource(path=notes_file, skip=1, limit=2)))
    assert [r.key for r in records] == ["1002", "1003"]
    first = toy_notes(300)[1]
    assert records[0].features() == {
        "release_note": first["text"], "kinds": first["kinds"], "sigs": first["sigs"], "number": 1002,
        "labels": [f"kind/{first['kinds'][0]}", f"sig/{first['sigs'][0]}"] + [f"area/{a}" for a in first["areas"]],
    }
    with pytest.raises(SystemExit, match=str(tmp_path / "absent.xz")):  # DFFML's CLI prints it alone, no traceback
        list(noasync.load(ReleaseNotesSource(path=tmp_path / "absent.xz")))


def test_tuning_points_are_independent_and_summarized(tmp_path):
    texts, labels = examples(toy_notes(120))
    size = len(tuning.grid())
    assert size <= 120 and len({json.dumps(p, sort_keys=True) for p in tuning.grid()}) == size
    for index in (0, 7):
        tuning.run_point(index, texts, labels, tmp_path, base=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["point-0.json", "point-7.json"]
    summary = tuning.summarize(tmp_path)
    best = max(summary["rows"], key=lambda row: row["accuracy"] + row["f1"])
    assert summary["best"]["accuracy"] + summary["best"]["f1"] == best["accuracy"] + best["f1"]
    assert str(summary["best"]["index"]) in summary["why"] and len(summary["missing"]) == size - 2
    with pytest.raises(ValueError, match=f"0..{size - 1}"):
        tuning.point_params(size)


def test_tuning_table_puts_each_value_under_its_column(tmp_path):
    point = tuning.grid()[77]
    row = {"index": 77, "params": point, "f1": 0.5, "accuracy": 0.6, "threshold": 0.4, "seconds": 1.0}
    artifacts.write_json(tmp_path / "point-77.json", row)  # sorts the keys, as run_point's files are
    head, line = tuning.table(tuning.summarize(tmp_path)).splitlines()
    columns = dict(zip(head.split(), line.split()))
    assert {name: columns[name] for name in point} == {name: str(value) for name, value in point.items()}
    assert columns["index"] == "77" and columns["f1"] == "0.5000"


@pytest.mark.parametrize("field, value, message", [
    ("word_ngrams", 0, "word_ngrams must be 1 or more"), ("l2", -1.0, "l2 must be 0"),
    ("char_max", 1, r"char_max must be char_min \(2\) or more"), ("c_nb", 0.0, "c_nb must be more than 0"),
])
def test_bad_model_config_is_refused_with_the_field_named(tmp_path, field, value, message):
    model = K8sMLPModel(directory=tmp_path, **{field: value})
    with pytest.raises(ValueError, match=message):
        model.config.params()


def test_word_tfidf_equals_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, labels = examples(toy_notes(200))
    fitted, matrices = features.fit_features(texts, labels, classifier.Params(min_df=1, label_features=False))
    docs = fitted.docs(texts)
    grams = docs.grams_upto(2, False)
    reference = TfidfVectorizer(analyzer=lambda i: grams[int(i)], vocabulary=fitted.index["word"], sublinear_tf=True)
    expected = reference.fit_transform([str(i) for i in range(len(grams))])
    assert np.allclose(matrices["word"].toarray(), expected.toarray(), atol=1e-12)
    assert np.allclose(features.transform(fitted, texts)["word"].toarray(), expected.toarray(), atol=1e-12)


def test_char_counts_equal_counting_each_note():
    norms = [text.normalize(t) for t in examples(toy_notes(100))[0]] + ["ünïcode v1.2.3 https://x.io/a"]
    counts, names = features.char_counts(norms, 2, 5)
    index = {g: i for i, g in enumerate(names)}
    direct = features.count([[g for token in norm.split() for g in text.char_grams(token, 2, 5)] for norm in norms], index)
    assert (counts != direct).nnz == 0
    again, _ = features.char_counts(norms[:7], 2, 5, index=index)
    assert (again != direct[:7]).nnz == 0


def test_chi2_selection_equals_scikit_learns():
    from sklearn.feature_selection import chi2

    X = sp.random(200, 50, density=0.2, random_state=1, format="csr")
    y = (np.random.default_rng(1).random(200) < 0.3).astype(float)
    expected = np.argsort(-np.nan_to_num(chi2(X, y)[0]), kind="stable")[:10]
    assert set(classifier.chi2_top(X, y[:, None], 10)) == set(expected)


def test_text_is_folded_masked_and_led():
    assert text.normalize("Fixed a bug in v1.28.3, see https://x.io/a") == "fixed a bug in  xverx , see  xurlx "
    assert text.lead_token(text.normalize("kubeadm: Fixed the upgrade")) == "xlead_fix"
    assert text.word_grams("fix the crash", 2)[:4] == ["xstartx", "fix", "the", "crash"]
    assert "xstartx fix" in text.word_grams("fix the crash", 2)
    assert text.label_tokens(["sig/node", "kind/bug", "area/kubelet", 3, "SIG/Apps"]) == ["area/kubelet", "sig/apps", "sig/node"]
    assert text.label_tokens(["size/S", "docs/linked"]) == ["docs/linked"]  # records.parse.model_inputs adds it


def ambiguous_notes(count: int, seed: int = 2):
    """Notes whose words say little and whose sig label says which kind they are, oldest first."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(count):
        bug = rng.random() < 0.5
        texts.append(f"{rng.choice(['update', 'change', 'adjust'])} the {rng.choice(PARTS)} handling")
        labels.append(["kind/bug" if bug else "kind/feature", "sig/node" if bug == (rng.random() < 0.9) else "sig/apps"])
    return texts, labels


def test_the_prs_labels_are_used_and_optional():
    texts, labels = ambiguous_notes(400)
    predictor, _ = classifier.train(texts, labels, ["kind/bug"], FAST)
    held, truth = ambiguous_notes(200, seed=9)
    with_labels = classifier.evaluate(predictor, held, truth)
    assert with_labels["accuracy"] >= 0.8  # the label tokens carry the kind
    without = np.array(predictor.predict(held))
    assert np.all((without > 0) & (without < 1))  # no labels: still a probability, from the text alone
    assert predictor.predict(held[:1], [["sig/node"]]) != predictor.predict(held[:1], [["sig/apps"]])
    assert predictor.predict(held[:1], [["kind/bug"]]) == predictor.predict(held[:1])  # kind/* is never an input
    text_only, _ = classifier.train(texts, labels, ["kind/bug"], classifier.Params(**{**vars(FAST), "label_features": False}))
    assert text_only.predict(held[:1], [["sig/node"]]) == text_only.predict(held[:1], [["sig/apps"]])


def test_one_note_at_a_time_equals_the_batch(trained):
    predictor = trained[1]
    texts, labels = examples(toy_notes(20, seed=4))
    batch = predictor.predict(texts, labels)
    single = [predictor.predict([t], [labs])[0] for t, labs in zip(texts, labels)]
    assert np.max(np.abs(np.array(batch) - single)) < 1e-12


def test_a_kind_too_rare_to_learn_is_never_predicted():
    texts, labels = examples(toy_notes(300))
    labels = [labs + (["kind/design"] if i == 5 else []) for i, labs in enumerate(labels)]
    predictor, _ = classifier.train(texts, labels, ["kind/bug", "kind/design", "kind/feature"], FAST)
    assert "kind/design" not in predictor.active and predictor.thresholds[1] > 1
    probabilities = predictor.probabilities(texts[:30], labels[:30])
    assert probabilities.shape == (30, 3) and not predictor.decide(probabilities)[:, 1].any()


def test_threshold_maximises_smoothed_accuracy_plus_f1():
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    p = np.array([0.1, 0.2, 0.7, 0.8, 0.9, 0.3, 0.6, 0.4])
    assert 0.4 < classifier.choose_threshold(y, p) <= 0.6
    assert classifier.choose_threshold(y, p, smooth=5) > 0.4
    assert classifier.choose_threshold(y, p, "f1") <= 0.6


def test_k8s_analysis_predict_takes_the_prs_labels(trained):
    predictor, _, directory = trained
    note = "update the kubelet handling"
    answer = run_cli("k8s-analysis", "predict", note, "--labels", "sig/node, area/kubelet", "--model-dir", str(directory))
    assert answer.returncode == 0, answer.stderr
    assert f"probability {predictor.predict([note], [['sig/node', 'area/kubelet']])[0]:.3f}" in answer.stdout


def test_on_the_real_notes_it_beats_the_linear_baseline_of_the_issue():
    """bench/model.py's eras: (a) the older 80% of the first file -> its newest 20%, (b) all of it -> v1.29-v1.32,
    without the notes the parser drops.

    LinearSVC's figures are bench/model.py's. On (b) ours is ahead by more than the bootstrap noise on
    accuracy and F1; on (a) the accuracy gap is inside the noise either way, so there the ranking (AUC)
    and F1 must be ahead.
    """
    from sklearn.metrics import roc_auc_score

    from dffml_k8s_analysis.records import shared_data, training_data

    later = shared_data.notes_path().parent / "k8s-release-notes-1.29-1.32.jsonl.xz"
    if reason := real_notes_missing(later.name):
        pytest.skip(reason)
    texts, labels = training_data.from_notes(shared_data.notes_path())  # the first era alone
    cut = int(len(texts) * 0.8)
    predictor, _ = classifier.train(texts[:cut], labels[:cut], ["kind/bug"], classifier.Params())
    found = classifier.evaluate(predictor, texts[cut:], labels[cut:])
    truth = ["kind/bug" in have for have in labels[cut:]]
    assert roc_auc_score(truth, predictor.predict(texts[cut:], labels[cut:])) > 0.8880 + 0.01  # LinearSVC's AUC
    assert found["f1"] > 0.7385  # LinearSVC's
    predictor, _ = classifier.train(texts, labels, ["kind/bug"], classifier.Params())
    found = classifier.evaluate(predictor, *training_data.from_notes(later))
    assert found["accuracy"] > 0.8135 + 0.01 and found["f1"] > 0.7265 + 0.01  # LinearSVC's 0.8135 / 0.7265


def test_transform_gives_the_training_rows_fit_features_gave():
    texts, labels = examples(toy_notes(120))
    fitted, matrices = features.fit_features(texts, labels, classifier.Params(min_df=1))
    again = features.transform(fitted, texts, labels)
    bare = features.transform(fitted, texts)
    for name in ("word", "nb"):  # with label dropout: the notes with their labels, then without
        assert np.allclose(matrices[name][:120].toarray(), again[name].toarray())
        assert np.allclose(matrices[name][120:].toarray(), bare[name].toarray())
    assert (again["word"] != bare["word"]).nnz > 0  # the label tokens are columns of their own
    assert np.allclose(matrices["char"].toarray(), again["char"].toarray())


SIG_OF = {"kubelet": "node", "scheduler": "scheduling", "kube-proxy": "network", "apiserver": "api-machinery",
          "kubectl": "cli", "etcd": "etcd", "csi": "storage", "dns": "network", "ingress": "network", "volume": "storage"}


def routed_notes(count: int, seed: int = 1):
    """Toy notes whose SIG follows from the component they name."""
    notes = toy_notes(count, seed)
    for note in notes:
        part = next(part for part in sorted(SIG_OF, key=len, reverse=True) if part in note["text"])
        note["sigs"] = [SIG_OF[part]]
    return notes


@pytest.fixture(scope="module")
def routing(tmp_path_factory):
    """A toy model with a SIG router, saved: (predictor, directory)."""
    texts, labels = examples(routed_notes(400))
    predictor, validation = classifier.train(texts, labels, ["kind/bug"], dataclasses.replace(FAST, sigs=True))
    directory = tmp_path_factory.mktemp("routing") / "model"
    artifacts.save(directory, predictor, {"validation": validation})
    return predictor, directory


def test_the_act_threshold_is_the_lowest_with_precision_090_at_95_percent_confidence():
    rng = np.random.default_rng(0)
    probability = rng.random(2000)
    y = rng.random(2000) < probability  # calibrated: precision above t is about (1 + t) / 2
    act = classifier.choose_act(y, probability, 0.90)
    from scipy.stats import binomtest

    def bound(t):
        acted = probability >= t
        return binomtest(int((y & acted).sum()), int(acted.sum())).proportion_ci(0.90, method="wilson").low

    assert bound(act) >= 0.90 > bound(act - 0.005)
    assert 0.75 < act < 0.9
    assert classifier.choose_act(y[:30], probability[:30], 0.90) == classifier.NEVER  # too few notes to be sure
    assert classifier.choose_act(np.ones(50, bool), np.linspace(0, 1, 50), 0.9) == 0.05  # always right: it acts on all


def test_each_probability_has_a_band(trained):
    predictor = trained[1]
    assert predictor.threshold <= predictor.act or predictor.act == classifier.NEVER
    predictor = classifier.Predictor(predictor.features, predictor.arrays, predictor.labels, [0.5], predictor.active, 0.8)
    assert [predictor.band(p) for p in (0.95, 0.8, 0.79, 0.5, 0.49)] == ["act", "act", "suggest", "suggest", "none"]


def test_the_sig_router_ranks_the_sigs_of_a_note_and_survives_saving(routing):
    predictor, directory = routing
    assert predictor.sigs == sorted(f"sig/{sig}" for sig in set(SIG_OF.values()))
    texts, labels = examples(routed_notes(100, seed=9))
    found = classifier.evaluate(predictor, texts, labels)["sigs"]
    assert found["top1"] >= 0.95 and found["top3"] == 1.0
    [route] = predictor.route(["fix a crash in kubelet"])
    assert route["sigs"][0]["sig"] == "sig/node" and len(route["sigs"]) == 3
    assert route["sigs"][0]["probability"] > route["sigs"][1]["probability"] >= route["sigs"][2]["probability"]
    reloaded = artifacts.load_predictor(directory)
    assert reloaded.route(texts) == predictor.route(texts)
    assert (reloaded.act, reloaded.confident) == (predictor.act, predictor.confident)


def test_a_model_without_a_router_says_how_to_get_one(trained):
    assert trained[1].sigs == []
    with pytest.raises(ValueError, match="no SIG router; train it with --sigs"):
        trained[1].route(["x"])


def test_prediction_responses_carry_the_band_and_the_sigs(routing):
    import requests

    from dffml_k8s_analysis.serve.service import PREDICT_ROUTE, ServeConfig, running

    predictor, directory = routing
    note = "fix a crash in kubelet"
    with running(ServeConfig(str(directory))) as url:
        single = requests.post(url + PREDICT_ROUTE, json={"text": note}).json()
        batch = requests.post(url + PREDICT_ROUTE, json={"instances": [note, "add support for kubectl flag"]}).json()
    p = predictor.predict([note])[0]
    assert single["result"] == pytest.approx(p, abs=1e-6) and single["band"] == predictor.band(p)
    assert single["sigs"] == json.loads(json.dumps(predictor.route([note])[0]))
    assert batch["bands"] == [predictor.band(q) for q in batch["predictions"]]
    assert [route["sigs"][0]["sig"] for route in batch["sigs"]] == ["sig/node", "sig/cli"]


def test_dffml_predict_gives_the_band_and_the_sigs(tmp_path):
    model = K8sMLPModel(directory=tmp_path / "m", epochs=30, min_df=1, top_k=500, units=8, validation=0.25, sigs=True)
    notes = routed_notes(300)
    path = write_notes(tmp_path / "notes.jsonl.xz", notes)
    noasync.train(model, ReleaseNotesSource(path=path))
    [record] = list(noasync.predict(model, ReleaseNotesSource(path=path, skip=10, limit=1), keep_record=True))
    prediction = record.predictions()
    assert prediction["band"]["value"] in classifier.BANDS
    assert prediction["sigs"]["value"][0] == f"sig/{notes[10]['sigs'][0]}"


def write_notes(path, notes):
    with lzma.open(path, "wt") as fh:
        fh.writelines(json.dumps(note) + "\n" for note in notes)
    return path


def test_several_files_train_together_without_the_notes_the_parser_drops(tmp_path, monkeypatch):
    from dffml_k8s_analysis.records import training_data

    older, newer = toy_notes(20), toy_notes(30, seed=2)
    for number, note in enumerate(newer):
        note["pr_number"] = 5000 + number
    newer[0]["pr_number"] = older[3]["pr_number"]  # a PR in both files: once, as the first file has it
    junk = [dict(older[0], pr_number=9000 + i, text=text) for i, text in
            enumerate(["NONE", '"NONE"', "TBD", "", "```\n\n#### Additional documentation e.g., KEPs"])]
    first = write_notes(tmp_path / "k8s-release-notes.jsonl.xz", older + junk)
    second = write_notes(tmp_path / "k8s-release-notes-1.29-1.32.jsonl.xz", newer)
    texts, _ = training_data.from_notes([first, second])
    assert len(texts) == 20 + 29 and texts[3] == older[3]["text"]
    for value in (f"{first}:{second}", str(tmp_path)):  # files, or a directory of them
        monkeypatch.setenv("K8S_NOTES", value)
        assert training_data.from_notes() == (texts, training_data.from_notes([first, second])[1])
        assert len(list(noasync.load(ReleaseNotesSource()))) == 49


def test_without_the_notes_train_says_where_they_come_from_and_how_to_use_a_store(tmp_path):
    absent = tmp_path / "k8s-release-notes.jsonl.xz"
    result = run_cli("k8s-analysis", "train", "--model-dir", str(tmp_path / "m"), env={"K8S_NOTES": str(absent)})
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f"not found at {absent}" in line and "kubernetes-sigs/release-notes" in line
    assert "../shared/data/" in line and "k8s-analysis train --source store" in line
    dffml = run_cli("dffml", "train", "-model", "k8s-mlp", "-model-directory", str(tmp_path / "m"), "-sources", "n=k8s-notes",
                    env={"K8S_NOTES": str(absent)})
    assert dffml.returncode == 1 and "Traceback" not in dffml.stderr
    [line] = dffml.stderr.strip().splitlines()
    assert line.startswith("k8s-notes: release notes file not found at") and "--source store" in line


def test_the_benchmark_runs_at_a_tiny_size():
    if reason := real_notes_missing("original-model"):
        pytest.skip(reason)
    result = run_cli("python", "bench/model.py", "--tiny", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["bench"] == "model" and set(report["eras"]) == {"a", "b"}
    rows = report["eras"]["b"]["rows"]
    assert {"original, as published", "LinearSVC", "ours, text only", "ours (default), no labels given"} <= set(rows)
    assert len(rows["LinearSVC"]["f1"]) == 3  # the figure and its interval
    assert "router" in report["eras"]["b"]["router"]


def nan_in(name):
    def damage(directory):
        with np.load(str(directory / "arrays.npz")) as found:
            arrays = {key: found[key] for key in found.files}
        arrays[name] = arrays[name].copy()
        arrays[name].flat[0] = np.nan if name != "mlp_w3" else np.inf
        np.savez(str(directory / "arrays.npz"), **arrays)
    return damage


def predictor_field(**fields):
    def damage(directory):
        meta = json.loads((directory / "predictor.json").read_text())
        (directory / "predictor.json").write_text(json.dumps(dict(meta, **fields)))
    return damage


@pytest.mark.parametrize("name, damage", [
    ("arrays.npz", nan_in("word_coef")),  # loaded and served: every answer was NaN, which is not JSON
    ("arrays.npz", nan_in("mlp_w3")),
    ("predictor.json", predictor_field(thresholds=[float("nan")])),
    ("predictor.json", predictor_field(act=float("inf"))),
])
def test_numbers_that_are_not_finite_are_refused_naming_the_file(tmp_path, trained, name, damage):
    directory = tmp_path / "model"
    directory.mkdir()
    for path in trained[2].iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    damage(directory)
    with pytest.raises(artifacts.ArtifactError, match=f"corrupted .*{name}: ValueError: .*finite"):
        artifacts.load_predictor(directory)
