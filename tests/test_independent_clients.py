"""Clients written without the emulator in mind pass against it: PyGithub's own pagination
(the original project's calls) and a third-party exporter, github-to-sqlite."""
import os
import shutil
import sqlite3
import subprocess
import sys

import github
import pytest

from dffml_k8s_analysis.emulator.rest import REPO_ID

from conftest import REPO, served
from github_material import CACHE_ROOT

G2S_VERSION = "2.9.1"
# github-to-sqlite calls https://api.github.com itself; this sends its requests to the emulator.
G2S_DRIVER = """
import sys
import requests.adapters
from github_to_sqlite.cli import cli

base, send = sys.argv[1], requests.adapters.HTTPAdapter.send

def to_emulator(self, request, **kwargs):
    request.url = request.url.replace("https://api.github.com", base, 1)
    return send(self, request, **kwargs)

requests.adapters.HTTPAdapter.send = to_emulator
cli(sys.argv[2:])
"""


def test_pygithub_paginated_lists_walk_the_original_projects_calls(emulator):
    server = emulator(items=1000)
    gh = github.Github(base_url=server.url, per_page=100)
    repo = gh.get_repo(REPO)
    listed = {issue.number: (issue.title, issue.updated_at) for issue in repo.get_issues(state="all")}
    expected = {number: (item["title"], item["updated_at"]) for number, item in served(server).items()}
    assert {n: (title, stamp.strftime("%Y-%m-%dT%H:%M:%SZ")) for n, (title, stamp) in listed.items()} == expected
    newest = max(stamp for _, stamp in expected.values())
    since = list(repo.get_issues(state="all", since=github.GithubObject.NotSet, sort="updated", direction="desc"))
    assert since[0].updated_at.strftime("%Y-%m-%dT%H:%M:%SZ") == newest
    issue = repo.get_issue(7)
    assert len(list(issue.get_comments())) == issue.comments
    assert [label.name for label in issue.get_labels()] == [label.name for label in issue.labels]
    assert gh.get_repo(REPO_ID).full_name == REPO  # GET /repositories/{id}
    assert gh.get_rate_limit().resources.core.remaining > 0


@pytest.fixture(scope="session")
def github_to_sqlite():
    """A side virtual environment with github-to-sqlite (its pins differ from ours), made once."""
    venv = CACHE_ROOT / "venvs" / ("github-to-sqlite-" + G2S_VERSION)
    if not (venv / "bin" / "github-to-sqlite").exists():
        partial = venv.with_name(venv.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True)
        result = subprocess.run([str(partial / "bin" / "python"), "-m", "pip", "install", "-q",
                                 f"github-to-sqlite=={G2S_VERSION}"], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.skip(f"cannot install github-to-sqlite {G2S_VERSION}: {result.stderr.strip()[-200:]}")
        shutil.rmtree(venv, ignore_errors=True)
        os.replace(partial, venv)
    return venv / "bin" / "python"


@pytest.mark.slow
def test_github_to_sqlite_exports_the_emulated_repository(emulator, github_to_sqlite, tmp_path):
    server = emulator(items=300, public_url="https://api.github.com")  # it parses the bodies' URLs
    db = tmp_path / "github.db"
    result = subprocess.run([str(github_to_sqlite), "-c", G2S_DRIVER, server.url, "issues", str(db), REPO],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("select number, title from issues").fetchall())
        (license_key,) = conn.execute("select license from repos").fetchone()
    assert rows == {number: item["title"] for number, item in served(server).items()}
    assert license_key == "apache-2.0"
