"""Every way an export, analyze or train can be given bad input or meet a broken world: one line, exit 1.

Real processes, real SQLite files, a real full disk (RLIMIT_FSIZE), real permissions (run as
``nobody`` when the tests run as root, who ignores them), a server that never answers.
"""
import http.server
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from dffml_k8s_analysis import flows
from dffml_k8s_analysis.cli import main as cli
from dffml_k8s_analysis.errors import first_cause
from dffml_k8s_analysis.github.client import GitHubError
from dffml_k8s_analysis.store import StoreError, migrations, open_store

from conftest import REPO, ROOT, VENV_BIN, export, served, stored


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err.removeprefix("k8s-analysis: error: ")


def analyze(store, *extra):
    return cli.main(["analyze", "--store", str(store), "--created", "--out", str(store.parent / "charts"), *extra])


@pytest.fixture
def exported(emulator, tmp_path):
    """A small finished export: (server, store)."""
    server = emulator(items=300)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    return server, store


@pytest.mark.parametrize("base_url", ["not a url", "", "ftp://x", "file:///etc", "http://[::1", "http://h:0"])
def test_a_base_url_that_is_no_http_url_is_one_line(tmp_path, capsys, base_url):
    store = tmp_path / "k.sqlite"
    assert export(base_url, store) == 1
    assert one_line(capsys) == ("the base URL must be http(s)://HOST[:PORT][/PATH], like https://api.github.com, "
                                f"got {base_url!r}")
    assert list(tmp_path.iterdir()) == []


def test_a_repository_name_given_as_a_dataflow_input_is_checked(tmp_path):
    with pytest.raises(Exception) as caught:
        flows.run_export("a/b?x=1", "http://127.0.0.1:9", str(tmp_path / "k.sqlite"))
    assert "repository must be OWNER/NAME" in str(first_cause(caught.value, (GitHubError,)))
    assert cli.main(["analyze", "--repo", "../.."]) == 1


def test_a_shard_store_with_other_braces_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    pattern = str(tmp_path / "w{index}{x}.sqlite")
    assert export("http://127.0.0.1:9", pattern, "--shards", "2", "--until", "2020-01-01T00:00:00Z") == 1
    assert one_line(capsys) == f"a sharded export's store must contain {{index}} and no other braces, got {pattern!r}"
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(emulator, tmp_path, capsys):
    server = emulator(items=50)
    store = tmp_path / "theirs.sqlite"
    db = sqlite3.connect(store)
    db.execute("CREATE TABLE items (a, b)")
    db.commit()
    db.close()
    before = store.read_bytes()
    message = f"{store} is not a k8s-analysis store (its tables: items): choose another --store"
    assert export(server.url, store) == 1
    assert one_line(capsys) == message
    assert analyze(store) == 1
    assert one_line(capsys) == message
    assert store.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["theirs.sqlite"]


def test_damaged_pages_are_one_line(exported, capsys):
    _, store = exported
    data = bytearray(store.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, page):  # every page but the header's and the last
        data[start:start + page] = b"\xa5" * page
    store.write_bytes(bytes(data))
    assert analyze(store) == 1
    error = one_line(capsys)
    assert error.startswith(f"store {store} is ")
    assert "damaged" in error or "not a usable SQLite file" in error


def test_invalid_raw_json_and_a_garbage_date_are_counted_not_fatal(exported, capsys):
    _, store = exported
    db = sqlite3.connect(store)
    db.execute("UPDATE items SET raw = '{not json' WHERE number = 5")
    db.execute("UPDATE items SET raw = json_set(raw, '$.created_at', 'garbage') WHERE number = 7")
    db.commit()
    migrations.as_unversioned(db, derived=False)  # as a store from before the derived columns
    db.close()
    for _ in ("derived in memory", "migrated"):
        capsys.readouterr()
        assert analyze(store) == 0
        out = capsys.readouterr().out
        assert "2 malformed items skipped" in out
        assert "skipped: #5: its stored JSON is invalid" in out
        assert "skipped: #7: created_at is not a timestamp: 'garbage'" in out
        open_store(store, create=True).close()


@pytest.mark.parametrize("value", ["garbage", "[1, 2]", '{"estimate": 3}'])
def test_a_bad_plan_row_is_one_line(exported, capsys, value):
    server, store = exported
    db = sqlite3.connect(store)
    db.execute("INSERT INTO state (key, value) VALUES ('plan', ?)", (value,))
    db.commit()
    db.close()
    assert export(server.url, store, "--update") == 1
    assert one_line(capsys) == (f"store {store}: its sync state 'plan' is damaged; remove it with "
                                f"sqlite3 {store} \"DELETE FROM state WHERE key = 'plan'\" and rerun")


def test_charts_that_cannot_be_written_are_one_line(exported, capsys):
    _, store = exported
    assert cli.main(["analyze", "--store", str(store), "--created", "--out", "/proc/x"]) == 1
    assert one_line(capsys) == "cannot write to --out /proc/x: No such file or directory"


def test_a_server_that_never_answers_fails_in_bounded_time(tmp_path, capsys, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    url = "http://127.0.0.1:{}".format(listener.getsockname()[1])
    monkeypatch.setenv("GITHUB_TIMEOUT", "1")
    try:
        assert export(url, tmp_path / "k.sqlite") == 75  # worth retrying
    finally:
        listener.close()
    assert one_line(capsys) == (f"{url} did not answer within 1 s, 5 times: check the URL, or retry later "
                                "(GITHUB_TIMEOUT sets the wait)")
    assert not (tmp_path / "k.sqlite").exists()


def test_the_bots_timeout_message_gives_the_bots_own_timeout(monkeypatch):
    from dffml_k8s_analysis.bot import reconcile

    listener = socket.create_server(("127.0.0.1", 0))
    url = "http://127.0.0.1:{}".format(listener.getsockname()[1])
    monkeypatch.setenv("GITHUB_TIMEOUT", "7")  # the export's wait, not the bot's
    monkeypatch.setattr(reconcile, "GITHUB_TIMEOUT", 1)
    try:
        with pytest.raises(GitHubError, match=rf"^GitHub for {REPO}#1 did not answer within 1 s, 3 times: "):
            reconcile.issue_body_and_labels(url, REPO, 1)
    finally:
        listener.close()


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """A plain file server (404 with an HTML body for GitHub's paths) that logs nothing."""

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_github_is_named_as_such(tmp_path, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietFiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://127.0.0.1:{}".format(server.server_address[1])
    try:
        assert export(url, tmp_path / "k.sqlite") == 1
    finally:
        server.shutdown()
        server.server_close()
    assert one_line(capsys) == (f"{url} answered 404 to /repos/{REPO}/issues without GitHub's error body: "
                                "is it a GitHub API root (https://api.github.com, https://HOST/api/v3)?")


def test_a_full_disk_is_one_line_and_a_rerun_completes(emulator, tmp_path):
    server = emulator(items=2000)
    store = tmp_path / "k.sqlite"

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url,
               "--store", str(store), "--quiet"]
    result = subprocess.run(command, cwd=str(ROOT), preexec_fn=small_disk, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"k8s-analysis: error: cannot write the store {store}: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert export(server.url, store) == 0
    assert stored(store) == served(server)


# Permissions: as root they are ignored, so the processes run as nobody there.

def as_nobody() -> list:
    """The command prefix that drops root's privileges (permissions are what these tests check)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*command, str(VENV_BIN / "python"), "-c", "import dffml_k8s_analysis"],
                      cwd="/tmp", capture_output=True).returncode != 0:
        pytest.skip(f"user nobody cannot run {VENV_BIN / 'python'}, so as root permissions cannot be tested: the "
                    "checkout is under a private directory (such as /root); a clone under /srv or /tmp runs it")
    return command


@pytest.fixture
def shared_dir():
    """A directory every user can enter, with ``open/`` that every user can write (pytest's are root's alone)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as path:
        os.chmod(path, 0o755)
        os.mkdir(os.path.join(path, "open"))
        os.chmod(os.path.join(path, "open"), 0o777)
        yield path


def run_as_nobody(shared_dir, *args):
    env = dict(os.environ, MPLCONFIGDIR=os.path.join(shared_dir, "open", "mpl"))
    return subprocess.run([*as_nobody(), str(VENV_BIN / "k8s-analysis"), *args], cwd="/tmp", env=env,
                          capture_output=True, text=True, timeout=300)


def test_read_only_directories_and_stores(emulator, shared_dir):
    server = emulator(items=600)
    directory = os.path.join(shared_dir, "ro")
    store = os.path.join(directory, "k.sqlite")
    assert export(server.url, store) == 0
    os.chmod(store, 0o644)
    os.chmod(directory, 0o555)
    before = open(store, "rb").read()
    common = ["--repo", REPO, "--base-url", server.url, "--quiet"]

    new = run_as_nobody(shared_dir, "export", *common, "--store", os.path.join(directory, "new", "k.sqlite"))
    assert (new.returncode, new.stderr) == (1, f"k8s-analysis: error: cannot write in {directory}/new, "
                                               "the store's directory: Permission denied\n")
    update = run_as_nobody(shared_dir, "export", *common, "--store", store, "--update")
    assert (update.returncode, update.stderr) == (1, f"k8s-analysis: error: cannot write in {directory}, "
                                                     "the store's directory: Permission denied\n")
    # analyze and train only read: a read-only store in a read-only directory is enough
    out = os.path.join(shared_dir, "open", "charts")
    charts = run_as_nobody(shared_dir, "analyze", "--store", store, "--created", "--out", out)
    assert charts.returncode == 0, charts.stderr
    assert json.loads(open(os.path.join(out, "created-all.json")).read())["created_total"] == 600
    model = run_as_nobody(shared_dir, "train", "--source", "store", "--store", store, "--model-dir",
                          os.path.join(shared_dir, "open", "model"), "--epochs", "2")
    assert model.returncode == 0, model.stderr
    assert open(store, "rb").read() == before and os.listdir(directory) == ["k.sqlite"]

    os.chmod(directory, 0o777)
    os.chmod(store, 0o444)
    read_only = run_as_nobody(shared_dir, "export", *common, "--store", store, "--update")
    assert (read_only.returncode, read_only.stderr) == (
        1, f"k8s-analysis: error: store {store} is read-only: the export needs to write it\n")


# A database outage: exit 75 (a Job retries), and the rerun resumes.

def test_a_database_down_at_the_start_is_exit_75_in_one_line(tmp_path, capsys):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    uri = f"postgresql://postgres@127.0.0.1:{port}/k8s"
    assert export("http://127.0.0.1:9", uri) == 75
    error = one_line(capsys)
    assert error.startswith(f"cannot connect to the store {uri}: connection failed: ") and "refused" in error


@pytest.mark.parametrize("option", ["sslmode=bogus", "target_session_attrs=x", "port=abc"])
def test_a_connection_option_libpq_refuses_is_exit_1_not_an_outage(tmp_path, capsys, option):
    uri = f"postgresql://postgres@127.0.0.1:9/k8s?{option}"  # a rerun meets it again: a Job must not retry it
    assert export("http://127.0.0.1:9", uri) == 1
    assert one_line(capsys).startswith(f"cannot connect to the store {uri}: connection is bad: invalid ")


def test_a_database_restarted_during_an_export_is_exit_75_and_the_rerun_resumes(emulator):
    import pg_server

    server = pg_server.Server()
    if server.bin is None:
        pytest.skip(pg_server.INSTALL)
    site = emulator(items=5000, latency_ms=30)
    with server:
        store = server.create_database()
        env = dict(os.environ, K8S_ANALYSIS_DB_PASSWORD_FILE=server.password_file)
        process = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", site.url,
                                    "--store", store, "--workers", "2", "--quiet"], cwd=str(ROOT), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.environ["K8S_ANALYSIS_DB_PASSWORD_FILE"], before = server.password_file, os.environ.get(
            "K8S_ANALYSIS_DB_PASSWORD_FILE")
        try:
            deadline = time.monotonic() + 120
            while _items(store) < 800:  # polled as kill_when polls
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            server.restart()
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 75, stderr
            assert len(stderr.strip().splitlines()) == 1
            # the outage meets either a connection in use or one being opened while the server is down
            lost = stderr.startswith(f"k8s-analysis: error: lost the connection to the store {store}#{REPO} (")
            assert lost and stderr.strip().endswith("rerun when the database is back; it resumes") or \
                stderr.startswith(f"k8s-analysis: error: cannot connect to the store {store}: connection failed: "), \
                stderr
            assert _items(store) < 5000
            assert export(site.url, store, "--workers", "2") == 0
            assert stored(store) == served(site)
        finally:
            if before is None:
                del os.environ["K8S_ANALYSIS_DB_PASSWORD_FILE"]
            else:
                os.environ["K8S_ANALYSIS_DB_PASSWORD_FILE"] = before


def _items(store) -> int:
    try:
        with open_store(store) as db:
            return db.count()["items"]
    except StoreError:  # not created yet
        return 0
