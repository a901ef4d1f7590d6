"""Tests of the GitHub emulator over real HTTP, with requests and PyGithub."""
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

import github
import pytest
import requests

from dffml_k8s_analysis.emulator.rest import LARGE_PAGE_MESSAGE, EmulatorConfig, running
from dffml_k8s_analysis.records import shared_data

from conftest import real_notes_missing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ISSUES = "/repos/kubernetes/kubernetes/issues"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def big():
    """A 12,000-item emulator shared by the read-only tests (unpaced: no secondary limits)."""
    with running(EmulatorConfig(items=12000, use_notes=False, secondary_limits=False)) as server:
        yield server


@pytest.fixture
def small():
    """A fresh 200-item emulator for tests that write or reconfigure."""
    with running(EmulatorConfig(items=200, use_notes=False)) as server:
        yield server


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def client(url, **kwargs):
    """A PyGithub client for the emulator, without PyGithub's client-side throttling."""
    return github.Github(base_url=url, seconds_between_requests=0, seconds_between_writes=0,
                         **kwargs)


def walk(http, url, rel="next"):
    """Follow ``rel`` links from ``url``; returns every page's items, in order."""
    items = []
    while url:
        response = http.get(url)
        assert response.status_code == 200, response.text
        items.extend(response.json())
        assert "last" not in response.links
        url = response.links.get(rel, {}).get("url")
    return items


def test_cursor_walk_returns_every_item_once(big, http):
    url = big.url + ISSUES + "?state=all&sort=updated&direction=asc&per_page=100"
    items = walk(http, url)
    numbers = [item["number"] for item in items]
    assert sorted(numbers) == list(range(1, 12001))
    keys = [(item["updated_at"], item["number"]) for item in items]
    assert keys == sorted(keys)


def test_cursor_walk_backwards_with_prev_links(big, http):
    first = http.get(big.url + ISSUES, params={"state": "open", "per_page": 100})
    assert "prev" not in first.links
    second = http.get(first.links["next"]["url"])
    back = http.get(second.links["prev"]["url"])
    assert back.json() == first.json()
    forward = walk(http, first.links["next"]["url"])
    numbers = [item["number"] for item in first.json() + forward]
    assert numbers == sorted(numbers, reverse=True)  # created desc follows number
    assert {item["state"] for item in first.json() + forward} == {"open"}
    closed = walk(http, big.url + ISSUES + "?state=closed&per_page=100")
    assert len(numbers) + len(closed) == 12000
    assert {item["state"] for item in closed} == {"closed"}


def test_page_parameter_refused_beyond_page_99_on_large_listing(big, http):
    params = {"state": "all", "per_page": 100, "page": 100}
    refused = http.get(big.url + ISSUES, params=params)
    assert refused.status_code == 422
    assert refused.json()["message"] == LARGE_PAGE_MESSAGE
    page = http.get(big.url + ISSUES, params=dict(params, page=99))
    assert page.status_code == 200
    assert [item["number"] for item in page.json()] == list(range(2200, 2100, -1))
    assert set(page.links) == {"prev", "next", "last", "first"}
    last = urllib.parse.parse_qs(urllib.parse.urlparse(page.links["last"]["url"]).query)
    assert last == {"state": ["all"], "per_page": ["100"], "page": ["120"]}


def test_per_page_is_clamped_to_100(big, http):
    response = http.get(big.url + ISSUES, params={"per_page": 500})
    assert len(response.json()) == 100
    assert len(http.get(big.url + ISSUES).json()) == 30


def test_since_sort_and_direction(big, http):
    updated = http.get(big.url + "/_emulator/items").json()["items"]
    since = sorted(updated.values())[11000]
    params = {"state": "all", "sort": "updated", "direction": "asc", "since": since,
              "per_page": 100}
    page = http.get(big.url + ISSUES, params=params).json()
    expected = sorted((stamp, int(number)) for number, stamp in updated.items()
                      if stamp >= since)[:100]
    assert [(item["updated_at"], item["number"]) for item in page] == expected
    by_comments = http.get(big.url + ISSUES, params={"sort": "comments", "state": "all"}).json()
    counts = [item["comments"] for item in by_comments]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    # since also filters listings sorted by another key
    created = walk(http, big.url + ISSUES + "?state=all&sort=created&direction=asc"
                   "&per_page=100&since=" + since)
    assert len(created) == sum(stamp >= since for stamp in updated.values())
    assert [item["number"] for item in created] == sorted(item["number"] for item in created)


def test_labels_filter_requires_all_labels(big, http):
    items = http.get(big.url + ISSUES, params={"labels": "kind/bug,sig/node",
                                                "state": "all", "per_page": 50}).json()
    assert len(items) == 50
    for item in items:
        assert {"kind/bug", "sig/node"} <= {label["name"] for label in item["labels"]}


@pytest.mark.parametrize("params, field", [
    ({"state": "bogus"}, "state"), ({"since": "yesterday"}, "since"),
    ({"per_page": "ten"}, "per_page"),
    ({"direction": "up"}, "direction"), ({"after": "not-a-cursor"}, "after"),
])
def test_invalid_parameters_give_422(big, http, params, field):
    response = http.get(big.url + ISSUES, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"][0]["field"] == field


def test_an_invalid_sort_is_ignored_as_on_github(big, http):
    params = {"state": "all", "per_page": 10}
    assert http.get(big.url + ISSUES, params=dict(params, sort="stars")).json() == \
        http.get(big.url + ISSUES, params=params).json()


def test_repository_id_paths_serve_the_same_and_a_cursor_wins_over_a_page(big, http):
    repository = http.get(big.url + "/repos/kubernetes/kubernetes").json()
    by_id = big.url + "/repositories/{}".format(repository["id"])
    assert http.get(by_id).json()["full_name"] == "kubernetes/kubernetes"
    params = {"state": "all", "per_page": 100, "sort": "updated", "direction": "asc"}
    first = http.get(by_id + "/issues", params=params)
    assert first.json() == http.get(big.url + ISSUES, params=params).json()
    after = urllib.parse.parse_qs(urllib.parse.urlparse(first.links["next"]["url"]).query)["after"][0]
    # a link shaped like GitHub's: the cursor and a page number; far past page 100, no 422
    second = http.get(by_id + "/issues", params=dict(params, after=after, page=150))
    assert second.status_code == 200
    assert second.json() == http.get(first.links["next"]["url"]).json()
    assert http.get(by_id + "/issues/7").json()["number"] == 7
    assert http.get(big.url + "/repositories/1/issues").status_code == 404


def test_unknown_repository_and_item_give_404(big, http):
    assert http.get(big.url + "/repos/kubernetes/other/issues").status_code == 404
    missing = http.get(big.url + ISSUES + "/12001")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"


def test_item_shapes(big, http):
    items = http.get(big.url + ISSUES, params={"state": "all", "per_page": 100}).json()
    prs = [item for item in items if "pull_request" in item]
    issues = [item for item in items if "pull_request" not in item]
    assert prs and issues
    for item in items:
        assert "closed_by" not in item
        assert ISO.match(item["created_at"]) and ISO.match(item["updated_at"])
        assert (item["closed_at"] is None) == (item["state"] == "open")
        assert item["user"]["type"] == "User" and item["labels"][0]["name"]
    pr = next(item for item in prs if item["state"] == "closed")
    assert set(pr["pull_request"]) >= {"url", "html_url", "diff_url", "patch_url", "merged_at"}
    assert "draft" in pr and "/pull/" in pr["html_url"]
    assert any("```release-note" in (item["body"] or "") for item in prs)
    single = http.get(pr["url"]).json()
    assert single["closed_by"]["login"]
    assert {key: value for key, value in single.items() if key != "closed_by"} == pr
    open_item = next(item for item in items if item["state"] == "open")
    assert http.get(open_item["url"]).json()["closed_by"] is None


def test_etag_gives_304_without_spending_budget(big, http):
    url = big.url + ISSUES + "/7"
    first = http.get(url)
    remaining = int(first.headers["X-RateLimit-Remaining"])
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    cached = http.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert int(cached.headers["X-RateLimit-Remaining"]) == remaining
    again = http.get(url)
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining - 1
    assert again.headers["Content-Type"] == "application/json; charset=utf-8"


def test_rate_limit_spent_then_refilled():
    with running(EmulatorConfig(items=20, use_notes=False, rate_reset_s=2.0)) as server, \
            requests.Session() as http:
        url = server.url + ISSUES + "/1"
        http.patch(server.url + "/_emulator/config", json={"rate_limit": 3})  # new window
        spent = [http.get(url) for _ in range(3)]
        assert [r.headers["X-RateLimit-Remaining"] for r in spent] == ["2", "1", "0"]
        assert spent[-1].headers["X-RateLimit-Used"] == "3"
        refused = http.get(url)
        assert refused.status_code == 403
        assert refused.json()["message"].startswith("API rate limit exceeded")
        status = http.get(server.url + "/rate_limit").json()
        assert status["resources"]["core"]["remaining"] == 0  # /rate_limit is free
        reset = int(refused.headers["X-RateLimit-Reset"])
        time.sleep(max(0.0, reset - time.time()))
        refilled = http.get(url)
        assert refilled.status_code == 200
        assert refilled.headers["X-RateLimit-Remaining"] == "2"


def test_pygithub_waits_for_the_rate_limit_reset():
    with running(EmulatorConfig(items=20, use_notes=False, rate_reset_s=1.5)) as server:
        requests.patch(server.url + "/_emulator/config", json={"rate_limit": 2})
        gh = client(server.url, retry=github.GithubRetry(total=3))
        repo = gh.get_repo("kubernetes/kubernetes")
        titles = [repo.get_issue(number).title for number in (1, 2, 3)]
        assert len(titles) == 3
        stats = requests.get(server.url + "/_emulator/stats").json()
        assert stats["by_status"]["403"] >= 1 and stats["by_status"]["200"] == 4


def test_token_is_checked():
    with running(EmulatorConfig(items=20, use_notes=False, token="s3cret")) as server:
        refused = requests.get(server.url + "/user")
        assert refused.status_code == 401
        assert refused.json()["message"] == "Bad credentials"
        for header in ("token s3cret", "Bearer s3cret"):
            assert requests.get(server.url + "/user",
                                headers={"Authorization": header}).status_code == 200
        wrong = client(server.url, auth=github.Auth.Token("nope"))
        with pytest.raises(github.BadCredentialsException):
            wrong.get_user().login
        right = client(server.url, auth=github.Auth.Token("s3cret"))
        assert right.get_user().login == "emulator-user"


def test_labels_add_and_remove_with_encoded_slash(small, http):
    url = small.url + ISSUES + "/5/labels"
    added = http.post(url, json={"labels": ["kind/bug", "needs-triage"]})
    assert added.status_code == 200
    assert {"kind/bug", "needs-triage"} <= {label["name"] for label in added.json()}
    removed = http.delete(url + "/kind%2Fbug")
    assert removed.status_code == 200
    assert "kind/bug" not in {label["name"] for label in removed.json()}
    missing = http.delete(url + "/kind%2Fbug")
    assert missing.status_code == 404 and missing.json()["message"] == "Label does not exist"
    replaced = http.put(url, json=["sig/node", "sig/node"])
    assert [label["name"] for label in replaced.json()] == ["sig/node"]
    issue = client(small.url).get_repo("kubernetes/kubernetes").get_issue(5)
    issue.add_to_labels("area/kubelet")
    issue.remove_from_labels("sig/node")
    assert [label["name"] for label in http.get(url).json()] == ["area/kubelet"]


def test_label_writes_are_recorded_with_the_token_s_account():
    config = EmulatorConfig(items=20, use_notes=False, users={"bot-token": "labeler[bot]", "person": "alice"})
    with running(config) as server, requests.Session() as http:
        url = server.url + ISSUES + "/3/labels"
        http.put(url, json=["needs-triage"], headers={"Authorization": "token person"}).raise_for_status()
        http.post(url, json=["kind/bug"], headers={"Authorization": "token bot-token"}).raise_for_status()
        http.delete(url + "/kind%2Fbug", headers={"Authorization": "token person"}).raise_for_status()
        http.put(url, json=["sig/node"], headers={"Authorization": "token other"}).raise_for_status()
        events = server.emulator.sample.label_events(3)
    assert [(e["event"], e["label"], e["actor"]) for e in events][-4:] == [
        ("labeled", "kind/bug", "labeler[bot]"), ("unlabeled", "kind/bug", "alice"),
        ("unlabeled", "needs-triage", "emulator-user"), ("labeled", "sig/node", "emulator-user")]


def test_comment_counts_match_the_comment_listings(small, http):
    for item in http.get(small.url + ISSUES, params={"state": "all", "per_page": 100}).json()[:40]:
        listed = http.get(item["comments_url"], params={"per_page": 100}).json()
        assert len(listed) == item["comments"], item["number"]
        assert all(c["issue_url"] == item["url"] and item["created_at"] <= c["created_at"] <= item["updated_at"]
                   for c in listed)


def test_comments_create_edit_delete(small, http):
    url = small.url + ISSUES + "/9/comments"
    existing = [c["body"] for c in http.get(url, params={"per_page": 100}).json()]
    assert len(existing) == http.get(small.url + ISSUES + "/9").json()["comments"]
    created = http.post(url, json={"body": "first"})
    assert created.status_code == 201
    comment = created.json()
    assert comment["body"] == "first" and comment["issue_url"].endswith("/issues/9")
    http.post(url, json={"body": "second"})
    assert [c["body"] for c in http.get(url, params={"per_page": 100}).json()] == existing + ["first", "second"]
    assert http.get(small.url + ISSUES + "/9").json()["comments"] == len(existing) + 2
    edited = http.patch(comment["url"], json={"body": "changed"})
    assert edited.json()["body"] == "changed"
    assert http.delete(comment["url"]).status_code == 204
    assert http.get(comment["url"]).status_code == 404
    assert [c["body"] for c in http.get(url, params={"per_page": 100}).json()] == existing + ["second"]
    assert http.post(url, json={"text": "x"}).status_code == 422
    paged = http.get(url, params={"per_page": 1, "page": len(existing) + 1})
    assert [c["body"] for c in paged.json()] == ["second"] and "next" not in paged.links


def test_writes_bump_updated_at_for_since_queries(small, http):
    before = http.get(small.url + ISSUES + "/3").json()["updated_at"]
    http.post(small.url + ISSUES + "/3/comments", json={"body": "ping"})
    after = http.get(small.url + ISSUES + "/3").json()["updated_at"]
    assert after > before
    params = {"state": "all", "since": after, "sort": "updated", "direction": "asc"}
    assert [item["number"] for item in http.get(small.url + ISSUES, params=params).json()] == [3]
    http.post(small.url + ISSUES + "/4/labels", json=["lgtm"])
    found = [item["number"] for item in http.get(small.url + ISSUES, params=params).json()]
    assert found == [3, 4]


def test_admin_touch_stats_config(small, http):
    http.post(small.url + "/_emulator/reset-stats")
    touched = http.post(small.url + "/_emulator/touch", json={"numbers": [7, 2]}).json()
    assert touched == {"numbers": [2, 7]}
    sampled = http.post(small.url + "/_emulator/touch", json={"count": 3, "seed": 1}).json()
    assert len(set(sampled["numbers"])) == 3
    stamps = http.get(small.url + "/_emulator/items").json()
    newest = max(stamps["items"].values())
    params = {"state": "all", "since": newest, "sort": "updated"}
    latest = http.get(small.url + ISSUES, params=params).json()
    assert {item["number"] for item in latest} <= {2, 7} | set(sampled["numbers"])
    assert latest and all(item["title"].endswith(" (edited)") for item in latest)
    http.patch(small.url + "/_emulator/config", json={"latency_ms": 30})
    started = time.monotonic()
    http.get(small.url + ISSUES + "/1")
    assert time.monotonic() - started >= 0.03
    stats = http.get(small.url + "/_emulator/stats").json()
    assert stats["requests"] == 2 and stats["by_route"] == {"issues_list": 1, "issue": 1}
    assert stats["by_status"] == {"200": 2}
    assert stats["rate_remaining"] == 5000 - 2
    dump = http.get(small.url + "/_emulator/dump").json()
    assert [item["number"] for item in dump] == list(range(1, 201))
    assert http.patch(small.url + "/_emulator/config", json={"items": 3}).status_code == 422


def test_faults_secondary_limits_and_drops(small, http):
    url = small.url + ISSUES + "/1"
    http.patch(small.url + "/_emulator/config", json={"fault_rate": 1.0})
    fault = http.get(url)
    assert fault.status_code == 502 and fault.json()["message"]
    http.patch(small.url + "/_emulator/config", json={"fault_rate": 0, "secondary_every": 2})
    statuses = [http.get(url) for _ in range(4)]
    assert [r.status_code for r in statuses] == [403, 200, 403, 200]
    assert statuses[0].headers["Retry-After"] == "1"
    assert "secondary rate limit" in statuses[0].json()["message"]
    http.patch(small.url + "/_emulator/config", json={"secondary_every": 0, "drop_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        requests.get(url)
    assert http.get(small.url + "/_emulator/stats").json()["dropped"] == 1


def test_pygithub_walks_a_faulty_emulator(small):
    requests.patch(small.url + "/_emulator/config",
                   json={"fault_rate": 0.2, "secondary_every": 7})
    gh = client(small.url, per_page=30,
                retry=github.GithubRetry(total=10, secondary_rate_wait=0.1))
    since = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    issues = gh.get_repo("kubernetes/kubernetes").get_issues(
        state="all", sort="updated", direction="asc", since=since)
    assert sorted(issue.number for issue in issues) == list(range(1, 201))
    stats = requests.get(small.url + "/_emulator/stats").json()
    assert stats["by_status"]["502"] >= 1 and stats["by_status"]["403"] >= 1


def test_real_release_notes_in_pull_requests(http):
    if reason := real_notes_missing():
        pytest.skip(reason)
    notes = shared_data.load_notes()
    with running(EmulatorConfig(items=6000)) as server:
        items = walk(http, server.url + ISSUES + "?state=all&per_page=100&direction=asc")
    assert [item["number"] for item in items] == list(range(1, 6001))
    authors = {}
    for item in items:
        if "pull_request" in item and item["body"]:
            authors[item["body"].replace("\r", "")] = item["user"]["login"]
    for note in sorted(notes, key=lambda note: note["pr_number"])[:200]:
        text = note["text"].replace("\r", "")
        carrying = [body for body in authors if text in body]
        assert carrying, "note of PR {} not served".format(note["pr_number"])
        assert note["author"] in {authors[body] for body in carrying}


def test_command_line_serves_until_sigterm(tmp_path):
    portfile = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "dffml_k8s_analysis.cli.emulate_github", "--port", "0", "--portfile",
         str(portfile), "--items", "50", "--no-notes"],
        cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        line = process.stdout.readline()  # printed after the port file is written
        port = int(portfile.read_text())
        assert line.strip() == "GitHub emulator: http://127.0.0.1:{} (50 items)".format(port)
        response = requests.get("http://127.0.0.1:{}{}/50".format(port, ISSUES))
        assert response.json()["number"] == 50
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
