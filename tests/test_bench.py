"""Every benchmark runs at its ``--smoke`` size and ends with one line of JSON: one that breaks fails the suite."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, real_notes_missing

BENCHES = sorted((ROOT / "bench").glob("*.py"))
NEEDS_REAL_NOTES = {"model.py"}  # it scores on the real release notes' eras; nothing stands in for them
# benchmarks whose --smoke run a test of their own subject checks further (file: its test), not run twice
CHECKED_ELSEWHERE = {"analyze.py": "test_analysis.py", "bot_state.py": "test_queue.py",
                     "canary.py": "test_canary_trust.py", "export.py": "test_pacing.py", "migrate.py": "test_store.py",
                     "model.py": "test_model.py"}


def test_there_are_benchmarks():
    assert {"export.py", "analyze.py", "model.py", "serve.py"} <= {bench.name for bench in BENCHES}


# what a benchmark is given in the suite: serve.py serves the session's toy model rather than training its own
# (a training process spends most of its CPU importing TensorFlow and scikit-learn)
GIVEN = {"serve.py": lambda request: ["--model-dir", str(request.getfixturevalue("model_dir"))]}


@pytest.mark.parametrize("bench", BENCHES, ids=[bench.name for bench in BENCHES])
def test_every_benchmark_runs_at_its_smoke_size(bench, tmp_path, request):
    if bench.name in CHECKED_ELSEWHERE:
        test = (ROOT / "tests" / CHECKED_ELSEWHERE[bench.name]).read_text()
        assert bench.name in test and ("--smoke" in test or "--tiny" in test), bench.name
        return
    if bench.name in NEEDS_REAL_NOTES and (reason := real_notes_missing()):
        pytest.skip(reason)
    given = GIVEN[bench.name](request) if bench.name in GIVEN else []
    result = subprocess.run([sys.executable, str(bench), "--smoke", *given], cwd=str(tmp_path), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert isinstance(json.loads(result.stdout.strip().splitlines()[-1]), dict), result.stdout[-2000:]
