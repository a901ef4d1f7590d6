"""The slim install: export, analysis, prediction and the bot without TensorFlow; training says what to install."""
import configparser
import importlib.metadata
import os
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from conftest import BUG, ROOT, export, run_cli

LOCK = ROOT / "requirements" / ("py311.txt" if sys.version_info[:2] == (3, 11) else "py313.txt")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def slim_lock(lock) -> set:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "slim-lock"), str(lock)], capture_output=True,
                         text=True, check=True).stdout
    return {normal(line.split("==")[0]) for line in out.splitlines() if "==" in line and not line.startswith("#")}


def locked(lock) -> set:
    return {normal(line.split("==")[0]) for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#")}


def project_requirements() -> list:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    return [Requirement(line) for line in setup["options"]["install_requires"].split("\n") if line.strip()]


def test_the_slim_lock_holds_everything_the_project_needs_but_training():
    slim = slim_lock(LOCK)
    assert "tensorflow" not in slim and "keras" not in slim and locked(LOCK) - slim
    needed = [(None, requirement) for requirement in project_requirements()]
    seen = set()
    while needed:
        wanted_by, requirement = needed.pop()
        name = normal(requirement.name)
        assert name in slim, f"{name} (wanted by {wanted_by or 'setup.cfg'}) is missing from the slim lock"
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            dependency = Requirement(line)
            extras = requirement.extras or {""}
            if not dependency.marker or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                needed.append((name, dependency))


def test_every_training_only_package_is_locked_on_a_stack():
    names = {normal(line) for line in (ROOT / "requirements" / "train-only.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    stale = names - locked(ROOT / "requirements" / "py311.txt") - locked(ROOT / "requirements" / "py313.txt")
    assert not stale, f"requirements/train-only.txt names packages no lock has: {stale}"


@pytest.fixture
def without_tensorflow(tmp_path):
    """An environment where ``import tensorflow`` fails, as in a slim install."""
    hidden = tmp_path / "hidden"
    (hidden / "tensorflow").mkdir(parents=True)
    (hidden / "tensorflow" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'tensorflow'\")\n")
    return {"PYTHONPATH": os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])}


def test_export_analysis_and_prediction_run_without_tensorflow(emulator, model_dir, tmp_path, without_tensorflow):
    server, store = emulator(items=200), tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    analysed = run_cli("k8s-analysis", "analyze", "--store", str(store), "--out", str(tmp_path / "out"),
                       env=without_tensorflow, cwd=tmp_path)
    assert analysed.returncode == 0, analysed.stderr[-2000:]
    predicted = run_cli("k8s-analysis", "predict", "--model-dir", str(model_dir), BUG, env=without_tensorflow,
                        cwd=tmp_path)
    assert predicted.returncode == 0 and "bug" in predicted.stdout.lower(), predicted.stderr[-2000:]


def test_training_without_tensorflow_says_what_to_install(emulator, tmp_path, without_tensorflow):
    server, store = emulator(items=300), tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    result = run_cli("k8s-analysis", "train", "--source", "store", "--store", str(store), "--model-dir",
                     str(tmp_path / "model"), env=without_tensorflow, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert "pip install 'dffml-k8s-analysis[train]'" in result.stderr
