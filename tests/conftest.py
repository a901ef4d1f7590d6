"""Shared fixtures: emulators on loopback, the CLI in-process and as a subprocess."""
import contextlib
import io
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from typing import Optional

import pytest
import requests

from dffml_k8s_analysis.cli import main as cli
from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running
from dffml_k8s_analysis.emulator.sample import Sample
from dffml_k8s_analysis.model import artifacts, classifier
from dffml_k8s_analysis.records import parse, shared_data
from dffml_k8s_analysis.store import PASSWORD_FILE_ENV, open_store

import pg_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = pathlib.Path(sys.executable).parent
REPO = "kubernetes/kubernetes"
OUTSIDE_THE_SUITE = {".git", ".venv", ".venv-other", "__pycache__"}
CHECKOUT = pytest.StashKey[dict]()


def checkout_files() -> dict:
    """path -> (size, mtime) of every file of the checkout but git's, the venvs' and bytecode."""
    found = {}
    for directory, names, files in os.walk(ROOT):
        names[:] = [name for name in names if name not in OUTSIDE_THE_SUITE]
        for name in files:
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):
                status = os.lstat(path)
                found[os.path.relpath(path, ROOT)] = (status.st_size, status.st_mtime_ns)
    return found


def git_tracked() -> set:
    """The checkout's files git tracks (none where git or .git is missing)."""
    result = subprocess.run(["git", "ls-files", "-z"], cwd=str(ROOT), capture_output=True, text=True)
    return set(result.stdout.split("\0")) if result.returncode == 0 else set()


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the run's controller, with or without xdist
        session.config.stash[CHECKOUT] = checkout_files()


def pytest_sessionfinish(session):
    """No test writes into the checkout: a file created or removed there, or an untracked one changed, fails the run."""
    before = session.config.stash.get(CHECKOUT, None)
    if before is None:
        return
    after, tracked = checkout_files(), git_tracked()
    # a tracked file's edit may be the developer's, during the run; git status shows a test's
    changed = sorted(path for path in before.keys() | after.keys()
                     if before.get(path) != after.get(path) and (path not in tracked or path not in before.keys() & after.keys()))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write("\n")
        reporter.write_line(
            "FAILED: the tests wrote into the checkout (use tmp_path): " + ", ".join(changed[:20]), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session; the store finds its password through the env file."""
    server = pg_server.Server()
    if server.bin is None:
        pytest.skip(pg_server.INSTALL)
    with server:
        before = os.environ.get(PASSWORD_FILE_ENV)
        os.environ[PASSWORD_FILE_ENV] = server.password_file
        try:
            yield server
        finally:
            if before is None:
                del os.environ[PASSWORD_FILE_ENV]
            else:
                os.environ[PASSWORD_FILE_ENV] = before


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request, tmp_path):
    """A store SPEC on each backend: a new SQLite file, or a new database of the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "k.sqlite")
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def emulator():
    """Factory: ``emulator(items=..., **config)`` serves until the test ends."""
    with_stack = []

    def start(**config):
        config.setdefault("use_notes", False)
        context = running(EmulatorConfig(**config))
        server = context.__enter__()
        with_stack.append(context)
        return server

    yield start
    for context in reversed(with_stack):
        context.__exit__(None, None, None)


def admin(server, method, route, **json):
    response = requests.request(method, f"{server.url}/_emulator/{route}", json=json or None)
    response.raise_for_status()
    return response.json() if response.content else None


def export(server_url, store, *extra):
    """Run ``k8s-analysis export`` in this process; returns its exit status."""
    return cli.main(["export", "--repo", REPO, "--base-url", server_url, "--store", str(store), "--quiet", *extra])


def real_notes_missing(*beside: str) -> Optional[str]:
    """Why a test of the real release notes (and of ``beside``, names next to them) must skip, or None.

    The test calls ``pytest.skip`` itself, so that ``-rs`` names it."""
    path = shared_data.notes_path()
    for needed in (path, *(path.parent / name for name in beside)):
        if not needed.exists():
            return f"needs the real release notes, no {needed}: {shared_data.WHERE}"
    return None


def run_cli(*args, env=None, timeout=120, cwd=ROOT):
    """Run a console script of the venv as a subprocess (in the checkout unless ``cwd``), capturing its output."""
    merged = dict(os.environ, **(env or {}))
    return subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:]],
        cwd=str(cwd), env=merged, capture_output=True, text=True, timeout=timeout,
    )


def run_in_process(*args):
    """Run ``k8s-analysis ARGS`` in this process, as ``run_cli`` does in a new one: (returncode, stdout, stderr).

    For commands that train: the worker imports TensorFlow and scikit-learn once, where each new process spends
    most of its CPU importing them again. The pipeline's process itself is tested as its CronJob runs it
    (tests/test_jobs.py).
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(args))
    return subprocess.CompletedProcess(["k8s-analysis", *args], status, out.getvalue(), err.getvalue())


def kill_when(command, reached, timeout=60):
    """Run ``command`` (a list) in the checkout; SIGKILL it as soon as ``reached()``; it must not end first."""
    process = subprocess.Popen(command, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not reached():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()


def stored(store) -> dict:
    """number -> raw item of a store."""
    with open_store(store, create=False) as db:
        return {item["number"]: item for item in db.raw_items()}


def served(server) -> dict:
    """number -> item exactly as the emulator lists it now."""
    return {item["number"]: item for item in admin(server, "GET", "dump")}


BUG = "Fixed panic in kubelet when the node is deleted."
OTHER = "Add support for sidecar containers in kubectl."
SMALL = classifier.Params(min_df=1, top_k=2000, units=8, epochs=10, validation=0.25)


def emulated_notes(count: int = 1200, seed: int = 5):
    """(texts, label lists) of the emulator's sample PRs with a release note, in PR order."""
    sample = Sample(count, seed=seed)
    records = [parse.record(sample.item(number, "")) for number in range(1, count + 1)]
    return zip(*[(r["release_note"], r["labels"]) for r in records if r["release_note"]])


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """One small k8s-mlp trained on the emulator's own release notes, shared by the session."""
    directory = tmp_path_factory.getbasetemp() / "toy-model"
    if not (directory / "predictor.json").exists():
        texts, labels = emulated_notes()
        predictor, validation = classifier.train(list(texts), list(labels), ["kind/bug"], SMALL)
        artifacts.save(directory, predictor, {"validation": validation})
    return directory


@contextlib.contextmanager
def serve_process(*args, env=None):
    """``k8s-analysis serve --port 0 ARGS`` as a subprocess: yields (process, base URL) once the model is loaded.

    It runs in a directory of its own, where defaults such as ``--state out/bot/state.sqlite`` land.
    """
    workdir = tempfile.TemporaryDirectory(prefix="k8s-serve-")
    server = subprocess.Popen([str(VENV_BIN / "k8s-analysis"), "serve", "--port", "0", *args], cwd=workdir.name,
                              env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        bound = server.stdout.readline()
        while " on http://" not in bound and bound:
            bound = server.stdout.readline()
        assert " on http://" in bound, server.stderr.read()
        assert server.stdout.readline().strip() == "k8s-analysis serve: model ready"
        yield server, bound.split(" on ")[1].strip()
    finally:
        server.terminate()
        server.output = server.communicate(timeout=60)  # (stdout, stderr) for the test to read
        workdir.cleanup()
