"""The k8s-issues DFFML source over a hand-written store (also the fixture of test_analysis)."""
import asyncio
import json

import pytest
from dffml import Record
from dffml.noasync import load

from conftest import REPO, run_cli
from dffml_k8s_analysis.records.issues_source import K8sIssuesSource, read_records
from dffml_k8s_analysis.records.readonly_source import ReadOnlySourceError
from dffml_k8s_analysis.store import StoreError, open_store

BODY = "**Does this PR introduce a user-facing change?**\r\n```release-note\r\n{}\r\n```\r\n"


def raw(number, created, closed=None, user="alice", labels=(), pr=False, body=None, closed_by=None):
    """A raw item as GitHub's issues listing returns it."""
    item = {
        "number": number, "title": f"item {number}", "body": body, "state": "closed" if closed else "open",
        "created_at": created, "updated_at": closed or created, "closed_at": closed,
        "user": {"login": user} if user else None, "labels": [{"name": name} for name in labels],
        "html_url": f"https://github.com/kubernetes/kubernetes/issues/{number}",
    }
    if pr:
        item["pull_request"] = {"url": f"https://api.github.com/repos/kubernetes/kubernetes/pulls/{number}"}
    if closed_by:
        item["closed_by"] = {"login": closed_by}
    return item


# Two issues, four PRs (three with a release note), a deleted user, a null body, two malformed items.
RAW = [
    raw(1, "2020-01-05T10:00:00Z", "2020-02-10T10:00:00Z", labels=["kind/bug", "sig/node"], closed_by="bob"),
    raw(2, "2020-01-20T10:00:00Z", "2020-01-25T10:00:00Z", user="bob", pr=True,
        labels=["kind/bug", "sig/node", "sig/apps", "release-note"], body=BODY.format("Fixed X.")),
    raw(3, "2020-02-01T10:00:00Z", pr=True, labels=["kind/feature", "lgtm"], body=BODY.format("NONE")),
    raw(4, "2020-03-15T10:00:00Z", "2020-03-16T10:00:00Z", user=None, pr=True, labels=["kind/feature", "area/test"],
        body=BODY.format("ACTION REQUIRED: Added Y.")),
    raw(5, "2020-03-31T23:59:59Z", user="carol"),
    raw(6, "2020-04-02T10:00:00Z", "2020-04-03T10:00:00Z", pr=True, labels=["kind/cleanup"],
        body=BODY.format("- Cleaned Z.")),
    dict(raw(7, "2020-05-01T10:00:00Z"), created_at=None),
    {"number": 8, "updated_at": "2020-05-02T10:00:00Z"},
]
# Who closed what, as the closers walk stores it; #1's raw closed_by wins over the table, #4's closer is unknown.
CLOSERS = [(1, "zed", "2020-02-10T10:00:00Z"), (2, "carol", "2020-01-25T10:00:00Z"),
           (6, "alice", "2020-04-03T10:00:00Z")]


def make_store(path):
    with open_store(path, create=True, repo=REPO) as store:
        store.save_page(RAW)
        store.save_closers(CLOSERS, {})
    return str(path)


@pytest.fixture
def store(store_spec):
    return make_store(store_spec)


def test_read_records_parses_merges_closers_and_reports_malformed(store):
    records, problems = read_records(store)
    by_number = {rec["number"]: rec for rec in records}
    assert sorted(by_number) == [1, 2, 3, 4, 5, 6]
    assert len(problems) == 2 and "#7" in problems[0] and "8" in problems[1]
    assert {n: rec["closed_by"] for n, rec in by_number.items()} == {
        1: "bob", 2: "carol", 3: None, 4: None, 5: None, 6: "alice"}
    assert by_number[4]["author"] is None and by_number[4]["action_required"]
    assert [by_number[n]["release_note"] for n in (2, 3, 4, 6)] == ["Fixed X.", None, "Added Y.", "Cleaned Z."]


@pytest.mark.parametrize(
    "options, keys",
    [
        ({}, {"1", "2", "3", "4", "5", "6"}),
        ({"pull_requests": True}, {"2", "3", "4", "6"}),
        ({"issues": True}, {"1", "5"}),
        ({"has_release_note": True}, {"2", "4", "6"}),
        ({"include": "^sig/"}, {"1", "2"}),
        ({"exclude": "^kind/"}, {"5"}),
        ({"include": "^kind/", "exclude": "sig/", "pull_requests": True}, {"3", "4", "6"}),
    ],
)
def test_source_filters(store, options, keys):
    records = list(load(K8sIssuesSource(store=store, **options)))
    assert {record.key for record in records} == keys
    for record in records:
        assert record.feature("number") == int(record.key)


def test_source_is_read_only_and_looks_records_up(store):
    async def use():
        async with K8sIssuesSource(store=store) as source:
            async with source() as ctx:
                two = await ctx.record("2")
                assert two.feature("labels") == ["kind/bug", "sig/node", "sig/apps", "release-note"]
                assert (await ctx.record("99")).features() == {}
                with pytest.raises(ReadOnlySourceError, match="read-only.*'2'"):
                    await ctx.update(Record("2", data={"features": {"title": "changed"}}))

    asyncio.run(use())
    assert [rec["title"] for rec in read_records(store)[0]][1] == "item 2"


def test_bad_config_and_missing_store_are_clear_errors(store, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        list(load(K8sIssuesSource(store=store, pull_requests=True, issues=True)))
    with pytest.raises(ValueError, match="include regex '\\[' is invalid"):
        list(load(K8sIssuesSource(store=store, include="[")))
    with pytest.raises(StoreError, match="does not exist"):
        list(load(K8sIssuesSource(store=str(tmp_path / "missing.sqlite"))))


def test_dffml_cli_lists_records_of_the_source(store):
    result = run_cli("dffml", "list", "records", "-sources", "gh=k8s-issues", "-source-gh-store", store,
                     "-source-gh-pull_requests", "-source-gh-include", "^kind/feature")
    assert result.returncode == 0, result.stderr
    listed = {record["key"]: record["features"] for record in json.loads(result.stdout)}
    assert sorted(listed) == ["3", "4"]
    assert listed["4"]["author"] is None
    assert listed["4"]["release_note"] == "Added Y." and listed["4"]["action_required"] is True
    assert listed["4"]["label_groups"] == {"kind": ["feature"], "area": ["test"]}
