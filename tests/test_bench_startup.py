"""bench/analyze.py --startup at a tiny size: the benchmark of the command line's start keeps running."""
import json

from conftest import ROOT, run_cli


def test_the_startup_benchmark_runs_and_ends_with_its_figures(tmp_path):
    result = run_cli("python", str(ROOT / "bench" / "analyze.py"), "--startup", "--items", "200",
                     "--repeat", "1", timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["items"] == 200 and figures["baseline"]
    for side in ("ours", "baseline"):
        assert figures[f"{side}_analyze_s"] > 0 and figures[f"{side}_help_cpu_s"] > 0
    assert figures["ratio_help"] > 0
