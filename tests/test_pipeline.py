"""The pipeline: update, retrain when the data changed, gate, promote by swapping a link."""
import os
import random

from dffml import noasync

from dffml_k8s_analysis.model.plugin import K8sMLPModel
from dffml_k8s_analysis.model.versions import promote
from operations.pipeline import pipeline_gate, pipeline_promote

from conftest import REPO, admin, run_in_process, stored

BUG = ["fixed a crash in {}", "fix panic when {} restarts", "fixed race condition in {}", "fix a bug where {} hangs"]
OTHER = ["add support for {} flag", "promote {} api to ga", "update {} to new version", "introduce {} metrics"]
PARTS = ["kubelet", "scheduler", "kube-proxy", "apiserver", "kubectl", "etcd", "volume manager", "endpoints"]


def toy_model(directory, inverted=False):
    """A small k8s-mlp trained on toy notes; ``inverted`` swaps what is a bug."""
    rng = random.Random(4)
    records = []
    for _ in range(300):
        bug = rng.random() < 0.5
        text = rng.choice(BUG if bug else OTHER).format(rng.choice(PARTS))
        records.append({"release_note": text, "labels": ["kind/bug"] if bug != inverted else ["kind/feature"]})
    model = K8sMLPModel(directory=str(directory), min_df=1, epochs=40, fixed_threshold=True)  # the original 0.6
    noasync.train(model, *records)
    return directory


def gate_and_promote(candidate, model_dir):
    state = {"candidate": str(candidate), "model_dir": str(model_dir), "version": {"items": 1}, "dry_run": False,
             "policy": {"share": 0.5, "soak_s": 0}}
    return pipeline_promote(pipeline_gate(state)["state"])["report"]


def test_only_a_candidate_that_passes_the_gate_is_promoted(tmp_path):
    model_dir = tmp_path / "model"
    good = toy_model(tmp_path / "model.versions" / "1")
    report = gate_and_promote(good, model_dir)
    assert report["promoted"] and report["gate"]["failed"] == []
    assert os.readlink(model_dir) == os.path.join("model.versions", "1")

    bad = toy_model(tmp_path / "model.versions" / "2", inverted=True)
    report = gate_and_promote(bad, model_dir)
    assert not report["promoted"] and report["why"].startswith("gate failed on ")
    assert len(report["gate"]["failed"]) >= 4
    assert os.readlink(model_dir) == os.path.join("model.versions", "1")  # the good model still serves


def test_promotion_swaps_the_link_keeps_two_versions_and_a_hand_trained_model(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "by-hand").write_text("x")
    versions = tmp_path / "model.versions"
    for stamp in ("20260101", "20260102", "20260103"):
        (versions / stamp).mkdir(parents=True)
        promote(str(versions / stamp), str(model_dir))
        assert os.readlink(model_dir) == os.path.join("model.versions", stamp)
    assert sorted(path.name for path in versions.iterdir()) == ["20260102", "20260103", "manual"]
    assert (versions / "manual" / "by-hand").read_text() == "x"


def test_pipeline_command_trains_once_then_waits_for_new_data(emulator, tmp_path):
    server = emulator(items=1500, use_notes=True)
    store, model_dir = tmp_path / "k.sqlite", tmp_path / "model"
    command = ["pipeline", "--repo", REPO, "--base-url", server.url, "--store", str(store),
               "--model-dir", str(model_dir), "--quiet"]
    first = run_in_process(*command)
    assert first.returncode == 0, first.stderr
    assert "gate: 8/8 example notes right" in first.stdout
    assert "promoted: new data, gate passed (a model directory has no canary)" in first.stdout
    serving = os.readlink(model_dir)
    again = run_in_process(*command)
    assert again.returncode == 0, again.stderr
    assert "not promoted: data unchanged since the newest model version was trained" in again.stdout
    assert os.readlink(model_dir) == serving
    admin(server, "POST", "touch", count=5)
    third = run_in_process(*command)
    assert "promoted: new data, gate passed" in third.stdout
    assert os.readlink(model_dir) != serving


def test_a_dry_run_trains_and_gates_even_on_unchanged_data_and_writes_nothing(emulator, tmp_path):
    server = emulator(items=1500, use_notes=True)
    store, model_dir = tmp_path / "k.sqlite", tmp_path / "model"
    command = ["pipeline", "--repo", REPO, "--base-url", server.url, "--store", str(store),
               "--models", str(model_dir), "--quiet"]
    assert run_in_process(*command).returncode == 0
    serving, versions = os.readlink(model_dir), sorted(os.listdir(tmp_path / "model.versions"))
    items = stored(store)
    admin(server, "POST", "reset-stats")
    dry = run_in_process(*command, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: the store is not updated" in dry.stdout
    assert "gate: 8/8 example notes right" in dry.stdout  # trained though the data did not change
    assert "not promoted: dry run: gate passed, nothing rolled out" in dry.stdout
    assert admin(server, "GET", "stats")["requests"] == 0
    assert stored(store) == items
    assert os.readlink(model_dir) == serving and sorted(os.listdir(tmp_path / "model.versions")) == versions
