"""Updates that see every change, and walks that survive page links, the 422 and same-second blocks.

Real HTTP against the emulator, real SQLite, real processes killed with SIGKILL.
"""
import subprocess
import time

import pytest
import requests

from dffml_k8s_analysis.github import listing
from dffml_k8s_analysis.store import open_store

from conftest import REPO, ROOT, VENV_BIN, admin, export, kill_when, served, stored


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_update_sees_changes_after_more_than_a_page_changed_in_the_overlap(emulator, tmp_path, capsys):
    # issue 13's sequence: the first page's ETag proved nothing about the second
    server = emulator(items=3000)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "POST", "touch", numbers=list(range(1, 151)))
    for _ in range(3):
        assert export(server.url, store, "--update") == 0
    admin(server, "POST", "touch", numbers=list(range(2001, 2051)))
    capsys.readouterr()
    assert export(server.url, store, "--update") == 0
    assert " 0 fetched" not in last_line(capsys)
    assert stored(store) == served(server)
    admin(server, "POST", "touch", numbers=[2999])
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)


# 3,000 changes in one second (30 pages of it) in the run; 10,000 (100 pages) is the
# same walk at GitHub's scale, marked slow (make test-all)
@pytest.mark.parametrize("items,changes", [(4000, 3000), pytest.param(12000, 10000, marks=pytest.mark.slow)],
                         ids=["3000", "10000"])
def test_update_of_thousands_of_changes_inside_the_overlap(emulator, tmp_path, items, changes):
    server = emulator(items=items)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "POST", "touch", count=changes, seed=3)
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)
    for numbers in ([5], list(range(100, 400))):
        admin(server, "POST", "touch", numbers=numbers)
        assert export(server.url, store, "--update") == 0
        assert stored(store) == served(server)


def test_update_with_nothing_new_after_a_short_listing_is_one_304(emulator, tmp_path):
    server = emulator(items=800)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "POST", "touch", numbers=[3, 4])
    for _ in range(2):  # the second repeats the first's request, with its new high-water mark
        assert export(server.url, store, "--update") == 0
    admin(server, "POST", "reset-stats")
    assert export(server.url, store, "--update") == 0
    assert admin(server, "GET", "stats")["by_status"] == {"304": 1}
    admin(server, "POST", "touch", numbers=[9])
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)


@pytest.mark.parametrize("settings", [
    # 2,500: the rest of the first burst may sit in the second before the next one's
    {"link_style": "page", "page_offset_limit": 2500},
    {"link_style": "page", "since_exclusive": True},
    {"link_style": "cursor", "since_exclusive": True},
], ids=["page-links-and-422", "page-links-exclusive-since", "cursor-exclusive-since"])
def test_a_same_second_burst_of_three_thousand_is_exported_and_updated_whole(emulator, tmp_path, settings):
    server = emulator(items=5000, **settings)
    admin(server, "POST", "touch", count=3000, seed=1)  # one second: bots do this
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--workers", "3") == 0
    assert stored(store) == served(server)
    admin(server, "POST", "touch", count=3000, seed=2)
    admin(server, "POST", "reset-stats")
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)
    # no loop: the burst's 30 pages, walked from one end or (when the second boundaries fall so)
    # from both, and the overlap
    assert admin(server, "GET", "stats")["requests"] <= 2 * (3000 // 100) + 25


@pytest.mark.slow
def test_a_same_second_burst_of_fifteen_thousand_with_page_links_and_the_422(emulator, tmp_path):
    # issue 17: page links, GitHub's 422 at page 100 of a listing over 10,000 items
    server = emulator(items=25000, link_style="page")
    admin(server, "POST", "touch", count=15000, seed=1)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--workers", "4") == 0
    assert stored(store) == served(server)
    admin(server, "POST", "touch", count=15000, seed=2)
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)


def test_a_block_of_one_second_no_listing_can_reach_is_an_error_not_a_loop(emulator, tmp_path, capsys):
    server = emulator(items=3000, link_style="page", page_offset_limit=500)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "POST", "touch", count=2500, seed=1)
    capsys.readouterr()
    assert export(server.url, store, "--update") == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("k8s-analysis: error: too many items updated at ")
    assert len(error.splitlines()) == 1


def block_stored(store, served_items, second) -> int:
    """How many items of the block at ``second`` the store holds as served."""
    with open_store(store) as db:
        versions = db.versions()
    return sum(1 for n, item in served_items.items()
               if item["updated_at"] == second and versions.get(n) == second)


# a block of 2,000 items in one second, more than the page links reach (offset limit 1,250): each kill lands in it
@pytest.mark.parametrize("settings", [{"link_style": "cursor"}, {"link_style": "page", "page_offset_limit": 1250}],
                         ids=["cursor-links", "page-links"])
def test_five_kills_in_a_row_inside_a_same_second_block_still_converge(emulator, tmp_path, settings):
    server = emulator(items=2500, **settings)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "POST", "touch", count=2000, seed=4)
    items = served(server)
    second = max(item["updated_at"] for item in items.values())
    admin(server, "PATCH", "config", latency_ms=40)
    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url,
               "--store", str(store), "--update", "--quiet"]
    progress = [block_stored(store, items, second)]
    for _ in range(5):
        kill_when(command, lambda: block_stored(store, items, second) >= progress[-1] + 150)
        progress.append(block_stored(store, items, second))
    assert progress == sorted(progress) and progress[-1] >= progress[0] + 750  # each run went further
    admin(server, "PATCH", "config", latency_ms=0)
    assert export(server.url, store, "--update") == 0
    assert stored(store) == served(server)


def test_a_stored_page_link_resumes_one_page_back_and_cursor_links_as_they_are():
    assert listing.back_one_page("http://h/r/issues?since=x&page=7") == "http://h/r/issues?since=x&page=6"
    assert listing.back_one_page("http://h/r/issues?page=1") == "http://h/r/issues?page=1"
    real = "https://api.github.com/repositories/1/issues?per_page=100&after=Y3Vyc29yOnYy&page=2"
    assert listing.is_cursor_link(real) and listing.back_one_page(real) == real


def test_a_second_export_on_the_same_store_fails_at_once_naming_the_first(emulator, tmp_path):
    server = emulator(items=1500, latency_ms=300)
    store = tmp_path / "k.sqlite"
    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url,
               "--store", str(store), "--quiet", "--workers", "2"]
    first = subprocess.Popen(command, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (store.exists() and (tmp_path / "k.sqlite.lock").exists()):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        second = subprocess.run(command + ["--update"], cwd=str(ROOT), capture_output=True, text=True, timeout=60)
        assert first.poll() is None  # the first is still writing
    finally:
        out, err = first.communicate(timeout=120)
    assert second.returncode == 1 and second.stdout == ""
    assert second.stderr.strip() == (f"k8s-analysis: error: store {store} is in use by another export "
                                     f"(process {first.pid}): wait for it to finish, or stop it")
    assert time.monotonic() - started < 30
    assert first.returncode == 0, err
    assert stored(store) == served(server)
    assert not (tmp_path / "k.sqlite.lock").exists()
    assert export(server.url, store, "--update") == 0  # free again


def test_the_emulator_serves_page_links_the_offset_422_and_an_exclusive_since(emulator):
    server = emulator(items=500, link_style="page", page_offset_limit=200)
    url = f"{server.url}/repos/{REPO}/issues"
    query = {"state": "all", "sort": "updated", "direction": "asc", "per_page": 100}
    first = requests.get(url, params=query)
    assert first.links["next"]["url"].endswith("page=2") and "after=" not in first.links["next"]["url"]
    assert requests.get(url, params=dict(query, page=2)).status_code == 200
    deep = requests.get(url, params=dict(query, page=3))
    assert deep.status_code == 422 and deep.json()["message"].startswith("Pagination with the page parameter")
    second = first.json()[0]["updated_at"]
    at = requests.get(url, params=dict(query, since=second)).json()
    assert at[0]["updated_at"] == second
    admin(server, "PATCH", "config", since_exclusive=True, link_style="cursor")
    after = requests.get(url, params=dict(query, since=second))
    assert all(item["updated_at"] > second for item in after.json()) and "after=" in after.links["next"]["url"]
