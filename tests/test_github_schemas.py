"""Every JSON body the emulator serves on the routes the project uses validates against
GitHub's own OpenAPI description (``@octokit/openapi``, api.github.com)."""
import pytest
import requests

from dffml_k8s_analysis.emulator.rest import EmulatorConfig, running

from github_material import response_errors

REPO = "/repos/kubernetes/kubernetes"


@pytest.fixture(scope="module")
def server():
    with running(EmulatorConfig(items=300, use_notes=False, secondary_limits=False)) as running_server:
        yield running_server


def check(method, template, status, answer):
    assert answer.status_code == status, answer.text
    assert response_errors(method, template, status, answer.json()) == []


def test_listing_pages_of_every_kind_validate(server):
    url = server.url + REPO + "/issues"
    for params in ({"state": "all", "per_page": 100, "sort": "updated", "direction": "asc"},
                   {"state": "closed", "per_page": 100}, {"state": "open", "per_page": 100, "labels": "kind/bug"}):
        answer = requests.get(url, params=params)
        check("GET", "/repos/{owner}/{repo}/issues", 200, answer)
        assert len(answer.json()) > 0


def test_repository_issue_and_rate_limit_validate(server):
    check("GET", "/repos/{owner}/{repo}", 200, requests.get(server.url + REPO))
    for number in range(1, 40):
        check("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 200,
              requests.get(f"{server.url}{REPO}/issues/{number}"))
    check("GET", "/rate_limit", 200, requests.get(server.url + "/rate_limit"))
    check("GET", "/user", 200, requests.get(server.url + "/user"))


def test_comments_and_labels_validate_through_the_bots_writes(server):
    issue = f"{server.url}{REPO}/issues/12"
    created = requests.post(issue + "/comments", json={"body": "<!-- RELNOTE_PREDICTION --> hello"})
    check("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 201, created)
    check("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 200, requests.get(issue + "/comments"))
    comment = created.json()["url"]
    check("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 200, requests.get(comment))
    check("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 200,
          requests.patch(comment, json={"body": "edited"}))
    check("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", 200,
          requests.post(issue + "/labels", json={"labels": ["kind/bug"]}))
    check("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels", 200,
          requests.put(issue + "/labels", json={"labels": ["kind/bug", "sig/node"]}))
    check("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels", 200, requests.get(issue + "/labels"))
    check("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", 200,
          requests.delete(issue + "/labels/kind%2Fbug"))


def test_error_bodies_validate(server):
    check("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 404, requests.get(f"{server.url}{REPO}/issues/99999"))
    check("GET", "/repos/{owner}/{repo}/issues", 422,
          requests.get(server.url + REPO + "/issues", params={"state": "bogus"}))


def test_issue_events_validate_with_people_bots_and_deleted_accounts(server):
    sample, issue = server.emulator.sample, f"{server.url}{REPO}/issues/13"
    sample.set_labels(13, sample.labels(13) + ["kind/bug"], 1_700_000_000, "k8s-ci-robot[bot]")
    sample.set_labels(13, [name for name in sample.labels(13) if name != "kind/bug"], 1_700_000_100, "someone")
    sample.set_labels(13, sample.labels(13) + ["kind/feature"], 1_700_000_200)  # a deleted account
    answer = requests.get(issue + "/events", params={"per_page": 100})
    check("GET", "/repos/{owner}/{repo}/issues/{issue_number}/events", 200, answer)
    assert [(e["event"], e["label"]["name"], e["actor"]["login"], e["actor"]["type"]) for e in answer.json()[-3:]] == [
        ("labeled", "kind/bug", "k8s-ci-robot[bot]", "Bot"), ("unlabeled", "kind/bug", "someone", "User"),
        ("labeled", "kind/feature", "ghost", "User")]
    pages, url = [], issue + "/events?per_page=2"  # the item's generated history first, then these writes
    while url:
        page = requests.get(url)
        check("GET", "/repos/{owner}/{repo}/issues/{issue_number}/events", 200, page)
        pages.append(page.json())
        url = page.links.get("next", {}).get("url")
    assert all(len(page) == 2 for page in pages[:-1]) and sum(pages, []) == answer.json()


def test_a_repository_label_and_a_missing_one_validate_and_adding_a_missing_label_creates_it(server):
    url = f"{server.url}{REPO}/labels/"
    check("GET", "/repos/{owner}/{repo}/labels/{name}", 200, requests.get(url + "kind%2Fbug"))
    assert requests.get(url + "kind%2Fbug").json()["name"] == "kind/bug"
    check("GET", "/repos/{owner}/{repo}/labels/{name}", 404, requests.get(url + "kind%2Fnone-such"))
    requests.post(f"{server.url}{REPO}/issues/3/labels", json={"labels": ["kind/none-such"]}).raise_for_status()
    check("GET", "/repos/{owner}/{repo}/labels/{name}", 200, requests.get(url + "kind%2Fnone-such"))
