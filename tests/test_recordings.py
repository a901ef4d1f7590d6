"""The project's own code paths against real exchanges recorded from api.github.com
(``@octokit/fixtures``): they make the recorded requests and keep exactly the recorded answers."""
import pytest

from dffml_k8s_analysis.github.client import Budget, GitHubError, api, connect, get_json, translated
from dffml_k8s_analysis.github.listing import next_link
from dffml_k8s_analysis.store import open_store

from github_material import fixture
from replay import replaying


def follow(gh, url, query):
    """Pages of a listing by its Link header's ``next``, through the exporter's client and link parsing."""
    while url:
        headers, items = get_json(gh, Budget(), url, query)
        yield items
        url, query = next_link(headers.get("link")), None


def test_the_exporters_client_follows_a_recorded_paginated_listing_and_stores_exactly_it(tmp_path):
    exchanges = fixture("paginate-issues")  # page links on /repositories/{id}/issues
    with replaying(exchanges) as replay:
        pages = list(follow(api(replay.url), "/repos/octokit-fixture-org/paginate-issues/issues",
                            {"per_page": 3}))
    assert replay.done, replay.unexpected
    assert pages == [exchange["response"] for exchange in exchanges]
    with open_store(tmp_path / "s.sqlite", create=True) as store:
        for page in pages:
            store.save_page(page)
        assert list(store.raw_items()) == sorted((item for e in exchanges for item in e["response"]),
                                                 key=lambda item: item["number"])


def test_the_bots_label_call_makes_the_recorded_request():
    exchanges = fixture("add-labels-to-issue")[1:]  # after the recording created the issue
    with replaying(exchanges) as replay:
        issue = connect(replay.url).get_repo("octokit-fixture-org/add-labels-to-issue").get_issue(1)
        issue.add_to_labels("Foo", "bAr", "baZ")  # as bot/reconcile.py adds kind/bug
        assert replay.done, replay.unexpected


def test_a_recorded_listing_is_read_by_get_json_as_recorded():
    (exchange, *_) = fixture("labels")
    with replaying([exchange]) as replay:
        _, labels = get_json(api(replay.url), Budget(), "/repos/octokit-fixture-org/labels/labels")
        assert replay.done, replay.unexpected
    assert labels == exchange["response"]


def test_a_recorded_validation_error_becomes_one_line_naming_it():
    (exchange,) = fixture("errors")
    with replaying([exchange]) as replay:
        repo = connect(replay.url).get_repo("octokit-fixture-org/errors")
        with pytest.raises(GitHubError) as raised, translated("labels", replay.url):
            repo.create_label("foo", "invalid")
        assert replay.done, replay.unexpected
    assert str(raised.value) == "GitHub answered 422 to labels: {'resource': 'Label', 'code': 'invalid', 'field': " \
                                "'color'}"
