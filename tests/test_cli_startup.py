"""The command line starts light: help imports none of the heavy libraries, a command only what it runs.

Each case is a fresh ``k8s-analysis`` process run with ``-X importtime`` (``PYTHONPROFILEIMPORTTIME``),
whose report on stderr names every module the process imported.
"""
import pytest

from dffml_k8s_analysis.cli.main import COMMANDS

from conftest import run_cli

HEAVY = ("dffml", "sklearn", "scipy", "tensorflow", "keras", "aiohttp")


def imported(*args) -> set:
    """Top-level names of the modules a fresh ``k8s-analysis ARGS`` imports."""
    result = run_cli("k8s-analysis", *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rpartition("|")[2].strip().split(".")[0]
            for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_the_report_is_read():
    assert {"argparse", "dffml_k8s_analysis"} <= imported("--help")


@pytest.mark.parametrize("args", [["--help"]] + [[name, "--help"] for name in COMMANDS], ids=" ".join)
def test_help_imports_no_heavy_library(args):
    assert imported(*args) & set(HEAVY) == set()


def test_a_prediction_imports_no_training_library(model_dir):
    """predict, serve and canary read a model with NumPy and SciPy: scikit-learn, dffml and TensorFlow are for training
    (every ``serve`` a test starts paid scikit-learn's import)."""
    assert imported("predict", "Fix a panic in kubelet", "--models", str(model_dir)) & {
        "sklearn", "dffml", "tensorflow", "keras"} == set()
