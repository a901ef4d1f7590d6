"""Ctrl-C: a real ``k8s-analysis`` process, a real SIGINT, the emulator in this process.

The first press stops between pages (exit 130, within 2 s) and names the command that resumes exactly
what was interrupted; that command fetches nothing already stored. A second press stops at once,
quietly. A walk is recognised as under way from the store it commits to, page by page.
"""
import shlex
import signal
import sqlite3
import subprocess
import time

from dffml_k8s_analysis.store import open_store

from conftest import REPO, ROOT, VENV_BIN, admin, served, stored

LATENCY_MS = 150  # pages slow enough to press Ctrl-C in the middle of a walk


def start(server, store, *extra):
    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url,
               "--store", str(store), *extra]
    return subprocess.Popen(command, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def state(store, key):
    """A sync-state value of the store as it is committed now (None before it exists)."""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:  # not made yet
        return None
    return row and row[0]


def wait_for(process, reached, timeout=120):
    deadline = time.monotonic() + timeout
    while not reached():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the walk never got under way"
        time.sleep(0.05)


def interrupt(process, presses=1):
    """SIGINT ``presses`` times; (seconds until it ended, exit status, stderr)."""
    started = time.monotonic()
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    return time.monotonic() - started, process.returncode, err


def resume_command(err):
    """The command the message names, as a list that runs this venv's k8s-analysis."""
    [line] = [line for line in err.splitlines() if "resume with: " in line]
    words = shlex.split(line.split("resume with: ", 1)[1])
    assert words[0] == "k8s-analysis"
    return [str(VENV_BIN / "k8s-analysis"), *words[1:]]


def test_ctrl_c_in_the_closers_walk_stops_it_and_resumes_the_walk_alone(emulator, tmp_path):
    server = emulator(items=3000, latency_ms=LATENCY_MS)
    store = tmp_path / "k.sqlite"
    process = start(server, store, "--closers")
    wait_for(process, lambda: '"issues": null' not in (state(store, "closers_progress") or '"issues": null'))
    seconds, status, err = interrupt(process)
    assert status == 130, err
    assert seconds < 2, err
    assert "Traceback" not in err
    command = resume_command(err)
    assert "--closers-only" in command and "--closers" not in command and "--update" not in command
    assert state(store, "closers_progress") is not None  # the walk's cursor is kept for the resume

    admin(server, "POST", "reset-stats")
    result = subprocess.run(command, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    routes = admin(server, "GET", "stats")["by_route"]
    assert set(routes) == {"graphql"}  # no export again: the walk alone
    assert routes["graphql"] < 3000 // 100  # and only its rest
    closed = {number for number, item in served(server).items() if item["state"] == "closed"}
    with open_store(store, create=False) as db:
        assert set(db.closers()) == closed


def test_ctrl_c_in_an_export_resumes_with_the_same_command_and_fetches_no_stored_page(emulator, tmp_path):
    server = emulator(items=4000, latency_ms=LATENCY_MS)
    store = tmp_path / "k.sqlite"
    process = start(server, store, "--workers", "2")
    wait_for(process, lambda: (state(store, "plan") or "null") != "null" and len(stored(store)) >= 400)
    seconds, status, err = interrupt(process)
    assert (status, "Traceback" in err) == (130, False), err
    assert seconds < 2, err
    command = resume_command(err)
    assert command[1:] == ["export", "--repo", REPO, "--base-url", server.url, "--store", str(store),
                           "--workers", "2"]
    before = len(stored(store))

    admin(server, "POST", "reset-stats")
    result = subprocess.run(command, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert stored(store) == served(server)
    fetched = int(result.stdout.split(" fetched with ")[0].rsplit("; ", 1)[1])
    assert fetched <= 4000 - before + 2 * 100  # what was committed is not fetched again (a page per window at most)


def test_a_second_ctrl_c_once_the_first_is_answered_stops_at_once_without_a_traceback(emulator, tmp_path):
    server = emulator(items=4000, latency_ms=LATENCY_MS)
    store = tmp_path / "k.sqlite"
    process = start(server, store)
    wait_for(process, lambda: (state(store, "plan") or "null") != "null")
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    first = process.stderr.readline()  # the first press is answered
    seconds, status, err = interrupt(process)
    assert status == 130, first + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, first + err
    assert time.monotonic() - started < 2, first + err
