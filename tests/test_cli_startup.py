"""The command line starts light: help imports none of the heavy libraries, a command only what it runs.

Each case reads a fresh ``k8s-analysis`` process run with ``-X importtime`` (``PYTHONPROFILEIMPORTTIME``),
whose report on stderr names every module the process imported.
"""
import pytest

from dffml_k8s_analysis.cli.main import COMMANDS

from conftest import run_cli

HEAVY = ("dffml", "sklearn", "scipy", "tensorflow", "keras", "aiohttp")
HELPS = [["--help"]] + [[name, "--help"] for name in COMMANDS]
# One fresh process asks for every help in turn, a marker line on stderr before each (a process per help took
# a second of CPU each): what each imports first is reported after its marker, what the CLI imports before any
# help goes with every one of them.
EVERY_HELP = """
import sys
from dffml_k8s_analysis.cli.main import main
for args in {helps!r}:
    print("-- " + " ".join(args), file=sys.stderr, flush=True)
    try:
        main(args)
    except SystemExit:
        pass
"""


def top_level(stderr: str) -> set:
    return {line.rpartition("|")[2].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:")}


def imported(*args) -> set:
    """Top-level names of the modules a fresh ``k8s-analysis ARGS`` imports."""
    result = run_cli("k8s-analysis", *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return top_level(result.stderr)


@pytest.fixture(scope="module")
def imported_by_help() -> dict:
    """' '.join(args) -> the top-level modules a fresh process imports to print that help."""
    result = run_cli("python", "-c", EVERY_HELP.format(helps=HELPS), env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    parts = ("-- start\n" + result.stderr).split("\n-- ")
    before = top_level(parts[0])
    return {part.partition("\n")[0]: before | top_level(part.partition("\n")[2]) for part in parts[1:]}


def test_the_report_is_read(imported_by_help):
    assert {"argparse", "dffml_k8s_analysis"} <= imported_by_help["--help"]


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_imports_no_heavy_library(args, imported_by_help):
    assert imported_by_help[" ".join(args)] & set(HEAVY) == set()


def test_a_prediction_imports_no_training_library(model_dir):
    """predict, serve and canary read a model with NumPy and SciPy: scikit-learn, dffml and TensorFlow are for training
    (every ``serve`` a test starts paid scikit-learn's import)."""
    assert imported("predict", "Fix a panic in kubelet", "--models", str(model_dir)) & {
        "sklearn", "dffml", "tensorflow", "keras"} == set()
