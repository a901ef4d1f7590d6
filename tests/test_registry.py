"""Model versions in the store: replicas that share no volume, the canary's share and record, its decision, bad blobs."""
import contextlib
import io
import json
import math
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import requests

from dffml_k8s_analysis.model import canary
from dffml_k8s_analysis.model.artifacts import ArtifactError
from dffml_k8s_analysis.model.registry import StoreRegistry, open_registry, pack
from dffml_k8s_analysis.serve.service import MODEL_ROUTE, PREDICT_ROUTE, VERSION_HEADER
from dffml_k8s_analysis.store import open_store

from conftest import BUG, REPO, ROOT, VENV_BIN, admin, run_cli, run_in_process, serve_process

PARTS = ["kubelet", "scheduler", "kube-proxy", "apiserver", "kubectl", "etcd", "the volume manager", "endpoints"]
TEMPLATES = ["Fixed a panic in {} when {} restarts.", "Add support for {} flags in {}.", "Fix a race in {} and {}.",
             "Promote {} API to GA, {} too.", "Update {} to the new {} version."]
TEXTS = [template.format(a, b) + f" ({n})" for n in range(10) for template in TEMPLATES for a in PARTS for b in PARTS[:1]]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request, tmp_path):
    """The spec of an empty store holding the registry: a SQLite file, or a repository's schema in PostgreSQL."""
    if request.param == "sqlite":
        spec = str(tmp_path / "registry.sqlite")
    else:
        spec = request.getfixturevalue("postgres_server").create_database() + "#" + REPO
    open_store(spec, create=True).close()
    return spec


def shifted_copy(model_dir, tmp_path, stamp, shift=0.0):
    """A copy of ``model_dir`` named ``stamp``, its output bias shifted by ``shift``."""
    copy = tmp_path / f"candidate-{stamp}" / stamp
    shutil.copytree(str(model_dir), str(copy))
    if shift:
        with np.load(str(copy / "arrays.npz")) as found:
            arrays = {name: found[name] for name in found.files}
        arrays["mlp_w3"] = arrays["mlp_w3"] + shift
        np.savez(str(copy / "arrays.npz"), **arrays)
    return copy


def stored(spec, model_dir, tmp_path, stamp, shift=0.0) -> str:
    """Add a (shifted) copy of ``model_dir`` as version ``stamp``."""
    StoreRegistry(spec).add(str(shifted_copy(model_dir, tmp_path, stamp, shift)), {"items": 1, "stamp": stamp})
    return stamp


def predictor_of(spec, stamp):
    models = StoreRegistry(spec)
    try:
        return models.load(stamp)
    finally:
        models.close()


def ask(base, text):
    answer = requests.post(base + PREDICT_ROUTE, json={"text": text})
    assert answer.status_code == 200, answer.text
    return answer.headers[VERSION_HEADER], answer.json()["result"]


def test_two_replicas_load_the_promoted_version_from_the_store(store_spec, model_dir, tmp_path):
    first, second = stored(store_spec, model_dir, tmp_path, "v1"), stored(store_spec, model_dir, tmp_path, "v2", 1.5)
    StoreRegistry(store_spec).promote(first)
    expected = {stamp: predictor_of(store_spec, stamp).predict([BUG])[0] for stamp in (first, second)}
    assert expected[first] != pytest.approx(expected[second], abs=1e-3)
    with serve_process("--models", store_spec, "--poll", "0") as (_, one), \
            serve_process("--models", store_spec, "--poll", "0") as (_, two):
        for base in (one, two):
            assert ask(base, BUG) == (first, pytest.approx(expected[first], abs=1e-6))
        StoreRegistry(store_spec).promote(second)
        for base in (one, two):
            assert ask(base, BUG) == (second, pytest.approx(expected[second], abs=1e-6))
            ready = requests.get(base + MODEL_ROUTE).json()
            assert ready["version"] == second and ready["canary"] is None
    assert [(row["stamp"], row["status"]) for row in StoreRegistry(store_spec).versions()] == [
        (first, "retired"), (second, "serving")]


def test_a_canary_answers_its_share_and_both_answers_are_recorded(store_spec, model_dir, tmp_path):
    serving, candidate = stored(store_spec, model_dir, tmp_path, "v1"), stored(store_spec, model_dir, tmp_path, "v2", 1.5)
    models = StoreRegistry(store_spec)
    models.promote(serving)
    models.start_canary(candidate, 0.3, 3600)
    predictors = {stamp: predictor_of(store_spec, stamp) for stamp in (serving, candidate)}
    answered, texts = {}, TEXTS[:300]  # each replica records at most canary.MAX_PER_CLIENT of one client
    with serve_process("--models", store_spec, "--poll", "0") as (_, one), \
            serve_process("--models", store_spec, "--poll", "0") as (_, two):
        for index, text in enumerate(texts):
            version, result = ask((one, two)[index % 2], text)
            assert result == pytest.approx(predictors[version].predict([text])[0], abs=1e-6)  # the chosen one answers
            answered[text] = version
        for text in texts[:20]:  # the same request goes the same way on either replica
            assert ask(two if texts.index(text) % 2 == 0 else one, text)[0] == answered[text]
        ready = requests.get(one + MODEL_ROUTE).json()
        assert ready["version"] == serving and ready["canary"] == {"version": candidate, "share": 0.3}
    to_canary = sum(version == candidate for version in answered.values())
    n = len(texts)
    assert abs(to_canary - 0.3 * n) < 4 * math.sqrt(n * 0.3 * 0.7), (to_canary, n)
    rows = StoreRegistry(store_spec).observations(candidate, 10_000)
    assert len(rows) == n + 20
    assert sum(row["answered_by"] == "canary" for row in rows) == to_canary + sum(
        answered[text] == candidate for text in texts[:20])
    threshold = {stamp: predictor.threshold for stamp, predictor in predictors.items()}
    probabilities = {text: [predictors[stamp].predict([text])[0] for stamp in (serving, candidate)] for text in texts}
    by_probability = {round(probabilities[text][0], 6): text for text in texts}
    for row in rows:
        text = by_probability[round(row["serving_probability"], 6)]
        assert row["canary_probability"] == pytest.approx(probabilities[text][1], abs=1e-6)
        assert row["agree"] == int((row["serving_probability"] >= threshold[serving])
                                   == (row["canary_probability"] >= threshold[candidate]))
        assert row["serving_ms"] > 0 and row["canary_ms"] > 0 and row["error"] is None
        assert (row["serving"], row["canary"]) == (serving, candidate)
    assert 0 < sum(row["agree"] for row in rows) < len(rows)  # the shifted canary disagrees on some, not all


def decide(spec, *criteria):
    return run_cli("k8s-analysis", "canary", "decide", "--models", spec, *criteria)


@contextlib.contextmanager
def canary_with_traffic(spec, model_dir, tmp_path, soak_s, requests_sent, canary_archive=None):
    """v1 serving, v2 (the same model, or ``canary_archive``) the canary; yields (base URL, v2) after the requests."""
    serving, candidate = stored(spec, model_dir, tmp_path, "v1"), "v2"
    if canary_archive is None:
        stored(spec, model_dir, tmp_path, candidate)
    else:
        with open_store(spec, create=True) as db:
            db.models.add_model_version(candidate, "2026-01-01T00:00:00+00:00", {"items": 1}, canary_archive)
    models = StoreRegistry(spec)
    models.promote(serving)
    models.start_canary(candidate, 0.5, soak_s)
    with serve_process("--models", spec, "--poll", "0") as (_, base):
        for text in TEXTS[:requests_sent]:
            assert ask(base, text)[0] in (serving, candidate)
        yield base, candidate


def test_canary_decide_waits_for_the_soak_then_promotes_a_canary_that_holds(store_spec, model_dir, tmp_path):
    with canary_with_traffic(store_spec, model_dir, tmp_path, 3600, 30) as (base, candidate):
        soaking = decide(store_spec)
        assert soaking.returncode == 0 and soaking.stdout.startswith(f"canary {candidate} soaking until "), soaking
        assert "30 observations" in soaking.stdout
        result = decide(store_spec, "--force", "--min-requests", "30", "--max-latency-ratio", "5", "--min-clients", "1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"canary {candidate} promoted: 30 observations (")
        assert "0 errors, agreement 1.000" in result.stdout
        assert ask(base, BUG)[0] == candidate  # every request now
    [row] = StoreRegistry(store_spec).versions("serving")
    assert row["stamp"] == candidate and row["decision"]["figures"]["observations"] == 30
    assert row["decision"]["criteria"]["min_requests"] == 30


@pytest.mark.parametrize("how", ["disagrees", "fails to load"])
def test_a_canary_that_disagrees_or_fails_is_rolled_back(store_spec, model_dir, tmp_path, how):
    if how == "disagrees":
        archive = pack(shifted_copy(model_dir, tmp_path, "v2", 1.5))
        criteria, why = ["--min-agreement", "0.999", "--min-clients", "1"], "(agreement 0."
    else:
        archive, criteria, why = b"not a zip", ["--min-clients", "1"], "(40 errors, more than 0"
    with canary_with_traffic(store_spec, model_dir, tmp_path, 0, 40, archive) as (base, candidate):
        result = decide(store_spec, *criteria, "--max-latency-ratio", "5")
        assert result.returncode == 1, result.stderr
        assert result.stdout.startswith(f"canary {candidate} rolled back {why}"), result.stdout
        assert ask(base, BUG)[0] == "v1"
        assert requests.get(base + MODEL_ROUTE).json()["canary"] is None
    assert [row["status"] for row in StoreRegistry(store_spec).versions()] == ["serving", "rolled_back"]


def pickled_arrays(marker) -> bytes:
    """An arrays.npz whose object array would create ``marker`` if anything unpickled it."""
    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Trap()], dtype=object), allow_pickle=True)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as npz:
        npz.writestr("mlp_w3.npy", buffer.getvalue())
    return packed.getvalue()


def corrupt_blob(model_dir, kind, marker) -> bytes:
    if kind == "garbage":
        return b"PK\x03\x04 not really a zip"
    found = zipfile.ZipFile(io.BytesIO(pack(model_dir)))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for name in found.namelist():
            archive.writestr(name, pickled_arrays(marker) if name == "arrays.npz" else found.read(name))
        if kind == "extra member":
            archive.writestr("../evil.py", "print('no')")
    return packed.getvalue()


@pytest.mark.parametrize("kind", ["garbage", "pickled arrays", "extra member"])
def test_a_corrupt_blob_is_refused_in_one_line_and_never_unpickled(store_spec, model_dir, tmp_path, kind):
    marker = tmp_path / "unpickled"
    with open_store(store_spec, create=True) as db:
        db.models.add_model_version("v1", "2026-01-01T00:00:00+00:00", {"items": 1}, corrupt_blob(model_dir, kind, marker))
    StoreRegistry(store_spec).promote("v1")
    with pytest.raises(ArtifactError) as refused:
        predictor_of(store_spec, "v1")
    assert "\n" not in str(refused.value) and str(refused.value).startswith(f"model version v1 in {store_spec}: ")
    server = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "serve", "--port", "0", "--models", store_spec],
                              cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        while line and " on http://" not in line:
            line = server.stdout.readline()
        loaded = server.stdout.readline()
        assert loaded.startswith(f"k8s-analysis serve: model not loaded: model version v1 in {store_spec}: "), loaded
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Traceback" not in err and len([line for line in err.splitlines() if line]) == 1, err
    assert not marker.exists()


def test_registry_specs_and_policy_errors_are_one_line(tmp_path, store_spec):
    assert open_registry(str(tmp_path / "model")).canaries is False
    assert open_registry(store_spec).canaries is True
    assert open_registry("postgresql://u@h:5432/db").canaries is True
    with pytest.raises(Exception, match="canary share must be between 0 and 1, got 1.5"):
        canary.Policy(share=1.5)
    result = run_cli("k8s-analysis", "canary", "status", "--models", str(tmp_path / "model"))
    assert result.returncode == 1 and result.stderr.strip().endswith("which has no canary: give --models a store")
    status = run_cli("k8s-analysis", "canary", "status", "--models", store_spec)
    assert status.stdout == "serving: none\nno canary\n", status
    bad = run_cli("k8s-analysis", "pipeline", "--models", store_spec, "--canary-share", "1.5")
    assert bad.returncode == 1 and bad.stderr == "k8s-analysis: error: canary share must be between 0 and 1, got 1.5\n"


def test_a_candidate_stored_by_a_run_that_stopped_before_its_rollout_is_trained_again(store_spec, model_dir, tmp_path):
    models = StoreRegistry(store_spec)
    models.promote(stored(store_spec, model_dir, tmp_path, "v1"))
    models.add(str(shifted_copy(model_dir, tmp_path, "v2")), {"items": 2})  # then the pipeline was killed
    assert models.latest_data_version() == {"items": 1, "stamp": "v1"}  # so the next run sees new data


def versions_of(spec):
    return [(row["status"], row["data_version"]["items"]) for row in StoreRegistry(spec).versions()]


def test_pipeline_with_a_store_promotes_first_then_canaries_and_dry_runs(emulator, tmp_path):
    server = emulator(items=1500, use_notes=True)
    store = str(tmp_path / "k.sqlite")
    command = ["pipeline", "--repo", REPO, "--base-url", server.url, "--store", store,
               "--models", store, "--quiet", "--canary-soak", "0"]
    first = run_in_process(*command)
    assert first.returncode == 0, first.stderr
    assert "promoted: new data, gate passed; models: " in first.stdout  # nothing served yet: no canary
    assert versions_of(store) == [("serving", 1500)]

    admin(server, "POST", "touch", count=5)
    dry = run_in_process(*command, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "gate: 8/8 example notes right" in dry.stdout
    assert "not promoted: dry run: gate passed, nothing rolled out" in dry.stdout
    assert versions_of(store) == [("serving", 1500)]

    second = run_in_process(*command)
    assert "canary started: new data, gate passed: canary for 50% of predictions for 0 s" in second.stdout, second
    assert [status for status, _ in versions_of(store)] == ["serving", "canary"]

    third = run_in_process(*command, "--min-requests", "0")  # soak over, no traffic needed
    assert third.returncode == 0, third.stderr
    assert "promoted: 0 observations (0 answered by it) from 0 clients, 0 errors" in third.stdout
    assert "not promoted: data unchanged since the newest model version was trained" in third.stdout
    assert [status for status, _ in versions_of(store)] == ["retired", "serving"]
    report = json.loads(json.dumps(StoreRegistry(store).versions("serving")[0]["decision"]))
    assert report["decision"] == "promoted" and report["figures"]["observations"] == 0


def test_predict_reads_the_version_that_serves_in_a_store(store_spec, model_dir, tmp_path):
    """The demo's and the pipeline's models live in a store: predict --models queries them as serve does."""
    empty = run_cli("k8s-analysis", "predict", BUG, "--models", store_spec)
    assert empty.returncode == 1 and empty.stderr.startswith("k8s-analysis: error: no model version serves in "), \
        empty.stderr
    stamp = stored(store_spec, model_dir, tmp_path, "20260101T000000000000")
    models = StoreRegistry(store_spec)
    models.promote(stamp)
    models.close()
    expected = predictor_of(store_spec, stamp).predict_kinds([BUG], [[]])[0]["kind/bug"]
    answer = run_cli("k8s-analysis", "predict", BUG, "--models", store_spec)
    assert answer.returncode == 0, answer.stderr
    assert f"(probability {expected:.3f}, threshold" in answer.stdout
