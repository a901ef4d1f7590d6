"""Export and update against the emulator over real HTTP into real SQLite and PostgreSQL (``store_spec``)."""
import json

import pytest
import yaml

from dffml_k8s_analysis.flows import DATAFLOWS
from dffml_k8s_analysis.github import export as export_mod
from dffml_k8s_analysis.store import StoreMissing, open_store

from conftest import REPO, ROOT, VENV_BIN, admin, export, kill_when, run_cli, served, stored


def test_export_of_a_large_listing_equals_the_served_items(emulator, store_spec, capsys):
    # 12,000 items: a page-number walk would hit the 422 at page 100.
    server = emulator(items=12000)
    store = store_spec
    assert export(server.url, store, "--workers", "4") == 0
    assert stored(store) == served(server)
    stats = admin(server, "GET", "stats")
    assert stats["by_status"] == {"200": stats["requests"]}
    # 120 pages of items, plus the plan's two probes and about one page per window
    assert stats["requests"] <= 120 + 2 + 16 + 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("12000 items stored (")
    assert f"with {stats['requests']} API requests" in line


def test_update_fetches_the_changed_items_with_few_requests(emulator, store_spec):
    server = emulator(items=5000)
    store = store_spec
    assert export(server.url, store) == 0
    touched = admin(server, "POST", "touch", count=500, seed=7)["numbers"]
    admin(server, "POST", "reset-stats")
    assert export(server.url, store, "--update") == 0
    assert admin(server, "GET", "stats")["requests"] <= 7  # 5 pages of changes + overlap
    assert stored(store) == served(server)
    with open_store(store) as db:
        assert db.sync.get("high_water") == max(item["updated_at"] for item in served(server).values())
    assert len(touched) == 500


def test_update_with_nothing_changed_is_answered_304(emulator, store_spec):
    server = emulator(items=800)
    store = store_spec
    assert export(server.url, store) == 0
    assert export(server.url, store, "--update") == 0
    admin(server, "POST", "reset-stats")
    before = admin(server, "GET", "stats")["rate_remaining"]
    assert export(server.url, store, "--update") == 0
    stats = admin(server, "GET", "stats")
    assert stats["by_status"] == {"304": 1}
    assert stats["rate_remaining"] == before


def test_update_without_a_previous_export_runs_a_full_one(emulator, tmp_path):
    server = emulator(items=700)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)


def test_faults_and_a_spent_rate_limit_still_give_the_same_store(emulator, store_spec, caplog):
    server = emulator(items=3000, fault_rate=0.1, drop_rate=0.03, secondary_every=15, rate_limit=10, rate_reset_s=8)
    store = store_spec
    with caplog.at_level("WARNING"):
        assert export(server.url, store, "--workers", "2") == 0
    stats = admin(server, "GET", "stats")
    assert stats["by_status"].get("502", 0) > 0 and stats["by_status"].get("403", 0) > 0
    assert stats["dropped"] > 0
    assert any("rate limit spent: waiting" in message for message in caplog.messages)
    admin(server, "PATCH", "config", fault_rate=0, drop_rate=0, secondary_every=0, rate_limit=5000)
    assert stored(store) == served(server)


def test_sigkill_mid_export_then_rerun_resumes_without_loss(emulator, store_spec):
    server = emulator(items=6000, latency_ms=40)
    store = store_spec
    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url,
               "--store", str(store), "--workers", "2", "--quiet"]
    kill_when(command, lambda: _count(store) >= 1500)  # once a good part is committed
    partial = _count(store)
    assert 1500 <= partial < 6000
    with open_store(store) as db:
        assert db.sync.plan() is not None  # the unfinished plan is what the rerun resumes
    admin(server, "POST", "reset-stats")
    admin(server, "PATCH", "config", latency_ms=0)
    assert export(server.url, store, "--workers", "2") == 0
    assert stored(store) == served(server)
    # resumed, not restarted: fewer requests than the 60 pages of a whole export
    assert admin(server, "GET", "stats")["requests"] < 60 - partial // 100 + 10
    with open_store(store) as db:
        assert db.sync.plan() is None and db.sync.windows() == []


def _count(store) -> int:
    try:
        with open_store(store) as db:
            return db.count()["items"]
    except StoreMissing:
        return 0


def test_rejected_token_is_one_clear_line_and_writes_nothing(emulator, tmp_path):
    secret = "ghp_" + "s3cr3t" * 6
    server = emulator(items=100, token="the-right-one")
    store = tmp_path / "k.sqlite"
    result = run_cli("k8s-analysis", "-v", "export", "--repo", REPO, "--base-url", server.url,
                     "--store", str(store), env={"GITHUB_TOKEN": secret})
    assert result.returncode == 1
    assert "error: GitHub rejected the token in GITHUB_TOKEN (401 Bad credentials)" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert not store.exists()


def test_token_file_is_read_when_github_token_is_unset_and_never_shown(emulator, tmp_path):
    secret = "ghp_" + "f1l3" * 9
    server = emulator(items=120, token=secret)
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")  # as `kubectl create secret --from-file` of an echoed token
    store = tmp_path / "k.sqlite"
    result = run_cli("k8s-analysis", "export", "--repo", REPO, "--base-url", server.url, "--store", str(store),
                     "--quiet", env={"GITHUB_TOKEN": "", "GITHUB_TOKEN_FILE": str(token_file)})
    assert result.returncode == 0, result.stderr
    assert _count(store) == 120
    token_file.write_text("not-the-token-7c1e")
    rejected = run_cli("k8s-analysis", "export", "--repo", REPO, "--base-url", server.url, "--store", str(store),
                       "--update", "--quiet", env={"GITHUB_TOKEN": "", "GITHUB_TOKEN_FILE": str(token_file)})
    assert (rejected.returncode, rejected.stderr.strip()) == (1, (
        f"k8s-analysis: error: GitHub rejected the token in GITHUB_TOKEN_FILE ({token_file}) (401 Bad credentials)"))
    # GITHUB_TOKEN, when set, wins over the file
    both = run_cli("k8s-analysis", "export", "--repo", REPO, "--base-url", server.url, "--store", str(store),
                   "--update", "--quiet", env={"GITHUB_TOKEN": secret, "GITHUB_TOKEN_FILE": str(token_file)})
    assert both.returncode == 0, both.stderr
    assert secret not in result.stdout + result.stderr + both.stdout + both.stderr + rejected.stderr


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "blank line"])
def test_an_unusable_token_file_is_one_line_naming_the_path(emulator, tmp_path, content):
    server = emulator(items=10, token="the-right-one")
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    result = run_cli("k8s-analysis", "export", "--repo", REPO, "--base-url", server.url, "--store",
                     str(tmp_path / "k.sqlite"), env={"GITHUB_TOKEN": "", "GITHUB_TOKEN_FILE": str(token_file)})
    reason = "No such file or directory" if content is None else None
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (f"k8s-analysis: error: cannot read the token file GITHUB_TOKEN_FILE={token_file}: {reason}"
                                     if reason else f"k8s-analysis: error: the token file GITHUB_TOKEN_FILE={token_file} is empty")
    assert not (tmp_path / "k.sqlite").exists()


def test_token_reaches_github_but_never_logs_store_or_dataflow(emulator, tmp_path):
    secret = "ghp_" + "t0k3n" * 7
    server = emulator(items=300, token=secret)
    store = tmp_path / "k.sqlite"
    result = run_cli("k8s-analysis", "-v", "export", "--repo", REPO, "--base-url", server.url,
                     "--store", str(store), env={"GITHUB_TOKEN": secret})
    assert result.returncode == 0, result.stderr
    assert len(stored(store)) == 300
    assert secret not in result.stdout + result.stderr
    for path in [store, *store.parent.glob("*")]:
        assert secret.encode() not in path.read_bytes()
    for path in (ROOT / "dataflows").glob("*.*"):
        assert secret not in path.read_text()


def test_unreachable_base_url_is_a_clear_error_and_leaves_the_store_alone(emulator, tmp_path):
    server = emulator(items=200)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    before = store.read_bytes()
    result = run_cli("k8s-analysis", "export", "--repo", REPO, "--base-url", "http://127.0.0.1:9",
                     "--store", str(store), "--update", "--quiet")
    assert result.returncode == 75  # worth retrying
    assert result.stderr.strip().splitlines()[-1] == (
        "k8s-analysis: error: cannot reach http://127.0.0.1:9: ConnectionError"
    )
    assert store.read_bytes() == before


REPO_RULE = "repository must be OWNER/NAME (letters, digits, '-'; also '.', '_' in NAME)"


@pytest.mark.parametrize(
    "args, message",
    [
        *[(["--repo", name], f"{REPO_RULE}, got {name!r}")
          for name in ("kubernetes", "a/b/c", "../..", "a/b?x=1", "a/b#f", "a/..", "a-/b", "a b/c", "a/b\n")],
        (["--workers", "0"], "--workers must be at least 1, got 0"),
    ],
)
def test_bad_options_are_rejected_with_a_message(emulator, tmp_path, args, message, capsys):
    server = emulator(items=10)
    store = tmp_path / "k.sqlite"
    code = export(server.url, store, *args)
    assert code == 1
    assert capsys.readouterr().err.strip() == f"k8s-analysis: error: {message}"
    assert not store.exists()


def test_unknown_repository_is_reported(emulator, tmp_path, capsys):
    server = emulator(items=10)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--repo", "no/such") == 1
    assert "not found: /repos/no/such/issues" in capsys.readouterr().err
    assert not store.exists()


def test_windows_cover_the_range_without_gaps():
    windows = export_mod.split_windows("2014-06-01T00:00:00Z", "2025-11-01T12:00:00Z", 7)
    assert [w["idx"] for w in windows] == list(range(7))
    assert windows[0]["start"] == "2014-06-01T00:00:00Z"
    assert windows[-1]["end"] == "2025-11-01T12:00:00Z"
    assert all(a["end"] == b["start"] for a, b in zip(windows, windows[1:]))
    assert all(w["start"] < w["end"] for w in windows)
    assert export_mod.split_windows("2020-01-01T00:00:00Z", "2020-01-01T00:00:03Z", 10)[-1]["end"] == (
        "2020-01-01T00:00:03Z"
    )


@pytest.mark.parametrize("name, attribute", sorted(DATAFLOWS.items()))
def test_dataflow_yaml_and_json_match_their_python_definition(name, attribute):
    result = run_cli("dffml", "service", "dev", "export", f"dffml_k8s_analysis.flows:{attribute}",
                     "-configloader", "yaml")
    assert result.returncode == 0, result.stderr
    exported = yaml.safe_load(result.stdout)
    assert exported == yaml.safe_load((ROOT / "dataflows" / f"{name}.yaml").read_text())
    assert exported == json.loads((ROOT / "dataflows" / f"{name}.json").read_text())


def test_dffml_cli_runs_the_export_and_update_dataflows(emulator, tmp_path):
    server = emulator(items=1500)
    store = tmp_path / "k.sqlite"
    inputs = [f"{REPO}=github.repo", f"{server.url}=github.base_url", f"{store}=export.store", "2=export.workers",
              "true=export.quiet"]
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/export.yaml", "-inputs", *inputs)
    assert result.returncode == 0, result.stderr
    assert '"items": 1500' in result.stdout
    assert stored(store) == served(server)
    admin(server, "POST", "touch", count=20, seed=1)
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/update.yaml", "-inputs", *inputs)
    assert result.returncode == 0, result.stderr
    assert stored(store) == served(server)


def test_closers_of_every_closed_item_cost_one_request_per_hundred(emulator, tmp_path):
    server = emulator(items=2500)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--closers") == 0
    sample = server.emulator.sample
    expected = {}
    for number in range(1, sample.count + 1):
        closed_by = sample.item(number, "", detail=True)["closed_by"]
        if closed_by is not None:
            expected[number] = None if closed_by["login"] == "ghost" else closed_by["login"]
    with open_store(store, create=True) as db:
        assert db.closers() == expected
        assert db.sync.get("closers_progress") is None and db.sync.get("closers")["since"]
    graphql = admin(server, "GET", "stats")["by_route"]["graphql"]
    assert graphql <= len(expected) // 100 + 2


def test_closers_update_fetches_only_recent_changes(emulator, store_spec, capsys):
    server = emulator(items=3000)
    store = store_spec
    assert export(server.url, store, "--closers") == 0
    touched = admin(server, "POST", "touch", count=150, seed=3)["numbers"]
    admin(server, "POST", "reset-stats")
    assert export(server.url, store, "--update", "--closers") == 0
    stats = admin(server, "GET", "stats")["by_route"]
    # issues ascending from the last run and pull requests newest first: a few pages, not all 28
    assert stats["graphql"] <= 4
    line = capsys.readouterr().out.strip().splitlines()[-1]
    items = served(server)
    closed = sum(1 for n in touched if items[n]["state"] == "closed")
    assert f"closers of {len(expected_closers(server))} closed items, {closed} fetched" in line


def expected_closers(server) -> dict:
    sample = server.emulator.sample
    return {n: 1 for n in range(1, sample.count + 1) if sample.closed[n]}
