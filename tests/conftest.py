"""Shared fixtures: emulators on loopback, the CLI in-process and as a subprocess."""
import os
import pathlib
import subprocess
import sys

import pytest
import requests

from dffml_k8s_analysis import cli
from dffml_k8s_analysis.emulator import EmulatorConfig, running
from dffml_k8s_analysis.store import Store

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = pathlib.Path(sys.executable).parent
REPO = "kubernetes/kubernetes"


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


def run_cli(*args, env=None, timeout=120):
    """Run a console script of the venv as a subprocess, capturing its output."""
    merged = dict(os.environ, **(env or {}))
    return subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:]],
        cwd=str(ROOT), env=merged, capture_output=True, text=True, timeout=timeout,
    )


def stored(store) -> dict:
    """number -> raw item of a store."""
    with Store(store, create=False) as db:
        return {item["number"]: item for item in db.raw_items()}


def served(server) -> dict:
    """number -> item exactly as the emulator lists it now."""
    return {item["number"]: item for item in admin(server, "GET", "dump")}
