"""Indexed Job sharding: the index mapping, and a sharded export run as real job commands."""
import os
import subprocess

import pytest

from dffml_k8s_analysis import jobindex
from dffml_k8s_analysis.store import open_store

from conftest import REPO, ROOT, VENV_BIN, admin, export, run_cli, served, stored

UNTIL = "2025-11-01T00:00:00Z"


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("items", [0, 1, 5, 20, 101])
def test_shares_are_disjoint_and_cover_all_work(count, items):
    work = list(range(items))
    shares = [list(jobindex.share(work, index, count)) for index in range(count)]
    assert sorted(x for share in shares for x in share) == work
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "JOB_COMPLETION_INDEX is not set"),
        ({"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX must be a whole number, got 'x'"),
        ({"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX=4 is outside 0..3"),
        ({"JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX=-1 is outside 0..3"),
    ],
)
def test_bad_job_index_is_explained(environ, message):
    with pytest.raises(ValueError, match=message):
        jobindex.job_index(4, environ)
    assert jobindex.job_index(4, {"JOB_COMPLETION_INDEX": "3"}) == 3


def job_command(url, shards, store_template):
    """The export Job's container command (jobs/), as `dffml dataflow run` on dataflows/export.yaml."""
    return [
        str(VENV_BIN / "dffml"), "dataflow", "run", "single", "-dataflow", "dataflows/export.yaml",
        "-inputs", f"{REPO}=github.repo", f"{url}=github.base_url", f"{store_template}=export.store",
        f"{shards}=export.shards", f"{UNTIL}=export.until", "2=export.workers", "true=export.quiet",
    ]


def run_indexes(url, shards, template, indexes):
    """Run the job command for each index as parallel processes; return their exit codes."""
    processes = [
        subprocess.Popen(job_command(url, shards, template), cwd=str(ROOT), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ, JOB_COMPLETION_INDEX=str(index)))
        for index in indexes
    ]
    results = [process.communicate(timeout=120) for process in processes]
    return [(process.returncode, err.decode()) for process, (_out, err) in zip(processes, results)]


def test_indexed_export_merged_equals_a_single_process_export(emulator, tmp_path):
    server = emulator(items=4000)
    single = tmp_path / "single.sqlite"
    assert export(server.url, single) == 0
    template = str(tmp_path / "shard-{index}.sqlite")
    assert [code for code, _ in run_indexes(server.url, 4, template, range(4))] == [0, 0, 0, 0]
    shard_items = [stored(template.format(index=i)) for i in range(4)]
    assert sum(map(len, shard_items)) >= 3900  # each pod took its own windows
    merged = tmp_path / "merged.sqlite"
    merge = ["dataflow", "run", "single", "-dataflow", "dataflows/merge.yaml", "-inputs", f"{REPO}=github.repo",
             f"{server.url}=github.base_url", f"{merged}=export.store",
             f"{tmp_path}/shard-*.sqlite=export.shard_paths", "true=export.quiet"]
    result = run_cli("dffml", *merge)
    assert result.returncode == 0, result.stderr
    assert stored(merged) == stored(single) == served(server)
    assert run_cli("dffml", *merge).returncode == 0  # safe to run twice
    assert stored(merged) == served(server)
    with open_store(merged, create=True) as db:
        assert db.sync.plan() is None and db.sync.get("high_water")


def test_rerunning_a_failed_index_changes_nothing_else(emulator, tmp_path):
    server = emulator(items=3000)
    template = str(tmp_path / "shard-{index}.sqlite")
    assert [code for code, _ in run_indexes(server.url, 3, template, [0, 2])] == [0, 0]
    others = {i: (tmp_path / f"shard-{i}.sqlite").read_bytes() for i in (0, 2)}
    merged = tmp_path / "merged.sqlite"
    result = run_cli("k8s-analysis", "merge", "--repo", REPO, "--base-url", server.url, "--store", str(merged),
                     "--quiet", template.format(index=0), template.format(index=2))
    assert result.returncode == 1
    assert "shards missing for JOB_COMPLETION_INDEX [1] of 3" in result.stderr
    assert [code for code, _ in run_indexes(server.url, 3, template, [1])] == [0]
    assert {i: (tmp_path / f"shard-{i}.sqlite").read_bytes() for i in (0, 2)} == others
    result = run_cli("k8s-analysis", "merge", "--repo", REPO, "--base-url", server.url, "--store", str(merged),
                     "--quiet", str(tmp_path / "shard-*.sqlite"))
    assert result.returncode == 0, result.stderr
    assert stored(merged) == served(server)


def test_sharded_store_path_must_hold_the_index(emulator, tmp_path):
    server = emulator(items=50)
    (code, err), = run_indexes(server.url, 2, str(tmp_path / "one.sqlite"), [0])
    assert code != 0 and "a sharded export's store must contain {index}" in err
    assert not (tmp_path / "one.sqlite").exists()


def test_indexed_pods_write_one_postgresql_database_then_the_final_pass_job_finishes(emulator, postgres_server):
    server = emulator(items=4000)
    uri = postgres_server.create_database()
    assert [code for code, _ in run_indexes(server.url, 3, uri, [0, 2])] == [0, 0]  # pod 1 failed
    with open_store(uri) as db:
        plan, windows = db.sync.plan(), db.sync.windows()
    assert plan["shard"] == {"count": 3, "until": UNTIL, "shared": True, "windows": len(windows)}
    mine = {i: jobindex.share(windows, i, 3) for i in range(3)}
    assert all(w["done"] for i in (0, 2) for w in mine[i]) and not any(w["done"] for w in mine[1])
    assert [code for code, _ in run_indexes(server.url, 3, uri, [1])] == [0]  # its rerun joins the same plan
    with open_store(uri) as db:
        assert all(w["done"] for w in db.sync.windows()) and db.sync.get("high_water") is None
    assert export(server.url, uri, "--update") == 0  # the final-pass Job, once, after the pods: no merge
    assert stored(uri) == served(server)
    with open_store(uri) as db:
        assert db.sync.plan() is None and db.sync.get("high_water")
    admin(server, "POST", "touch", count=30)
    before = admin(server, "GET", "stats")["requests"]
    assert export(server.url, uri, "--update") == 0  # the Job's pod run again: an incremental update
    assert stored(uri) == served(server) and admin(server, "GET", "stats")["requests"] - before <= 3
