"""The timeline: the emulator's GraphQL answers and the walk into real SQLite and PostgreSQL, over real HTTP.

Every GraphQL document the project sends is validated against GitHub's published schema
(``@octokit/graphql-schema``), and the emulator's answers are executed against it.
"""
import json
import subprocess
import time

import graphql
import pytest

from dffml_k8s_analysis.emulator import graphql as emulated
from dffml_k8s_analysis.emulator import timeline as generated
from dffml_k8s_analysis.emulator.sample import Sample
from dffml_k8s_analysis.github import closers, timeline
from dffml_k8s_analysis.store import open_store
from dffml_k8s_analysis.timeutil import epoch

import github_material
from conftest import REPO, ROOT, VENV_BIN, admin, export, kill_when
from test_interrupts import interrupt, resume_command, start, state, wait_for

OWNER, NAME = REPO.split("/")
ROBOTS = {"k8s-ci-robot", "k8s-triage-robot"}  # the default --bots, written out independently


def ask(sample, query, **variables):
    body, cost = emulated.answer(sample, OWNER, NAME, {"query": query,
                                                      "variables": dict(variables, owner=OWNER, name=NAME)})
    return body, cost


# The emulator

def test_generated_label_history_replays_to_the_item_s_labels_with_every_kind_of_actor():
    sample = Sample(600, seed=3)
    actors = set()
    for number in range(1, 601):
        labels = set()
        for event in sample.label_events(number):
            (labels.add if event["event"] == "labeled" else labels.discard)(event["label"])
            actors.add("app" if (event["actor"] or "").endswith("[bot]") else "robot" if event["actor"] in ROBOTS
                       else "ghost" if event["actor"] is None else
                       "author" if event["actor"] == sample.author(number) else "person")
        assert labels == set(sample.labels(number)), number
        assert sample.label_events(number) == sample.label_events(number)  # deterministic
    assert actors == {"app", "robot", "ghost", "author", "person"}
    history = sample.label_events(7)
    sample.set_labels(7, ["kind/bug"], 1_900_000_000, actor="alice")
    assert sample.label_events(7)[:len(history)] == history and sample.label_events(7)[-1]["actor"] == "alice"


def test_the_emulator_answers_the_timeline_with_people_bots_reviews_merges_and_long_histories():
    sample = Sample(1500, seed=1)
    typenames, actors, states, long = set(), set(), set(), 0
    for connection, query in (("issues", timeline.ISSUES), ("pullRequests", timeline.PULL_REQUESTS)):
        cursor = None
        while True:
            body, cost = ask(sample, query, cursor=cursor)
            assert cost == 1 and "errors" not in body
            page = body["data"]["repository"][connection]
            for node in page["nodes"]:
                events = node["timelineItems"]
                long += events["pageInfo"]["hasNextPage"]
                for event in events["nodes"]:
                    typenames.add(event["__typename"])
                    states.add(event.get("state"))
                    who = event.get("actor", event.get("author"))
                    actors.add(who and (who["__typename"], who["login"] in ROBOTS))
            if not page["pageInfo"]["hasNextPage"]:
                break
            cursor = page["pageInfo"]["endCursor"]
    assert typenames == {"LabeledEvent", "UnlabeledEvent", "IssueComment", "ClosedEvent", "PullRequestReview",
                         "MergedEvent"}
    assert actors == {None, ("User", True), ("User", False), ("Bot", False)}
    assert states == {None, "COMMENTED", "APPROVED", "CHANGES_REQUESTED"}
    assert long >= 2  # items with more events than one page holds


def test_cost_is_github_s_formula_and_unknown_queries_are_errors():
    sample = Sample(300, seed=1)
    nested = "{ nodes { number timelineItems(first: 10) { nodes { __typename } } } }"
    _, cost = ask(sample, "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { "
                  f"a: issues(first: 100, orderBy: {{field: UPDATED_AT, direction: ASC}}) {nested} "
                  f"b: pullRequests(first: 100, orderBy: {{field: UPDATED_AT, direction: ASC}}) {nested} }} }}")
    assert cost == 2  # 2 listings + 200 timelines = 202 requests
    _, cost = ask(sample, "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { "
                  f"issues(first: 30, orderBy: {{field: UPDATED_AT, direction: ASC}}) {nested} }} }}")
    assert cost == 1  # 31 requests: at least one point
    for query in ("query { viewer { login } }", "mutation { addStar(input: {}) { clientMutationId } }", "{ nope",
                  "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { "
                  "issues(first: 101, orderBy: {field: UPDATED_AT, direction: ASC}) { nodes { number } } } }"):
        with pytest.raises(emulated.GraphQLError):
            ask(sample, query)
    full = {f"{kind}{i}": (i + 1 if kind == "n" else None) for i in range(timeline.FOLLOW_UPS) for kind in "nc"}
    assert ask(sample, timeline.follow_up_query(timeline.FOLLOW_UPS), **full)[1] == 1  # a full batch: one point
    body, _ = ask(sample, timeline.follow_up_query(2), n0=5, c0=None, n1=999, c1=None)
    assert body["data"]["repository"]["i1"] is None and body["errors"][0]["type"] == "NOT_FOUND"


@pytest.fixture(scope="module")
def schema():
    path = github_material.package("graphql-schema") / "schema.json"
    document = json.loads(path.read_text())
    return graphql.build_client_schema(document.get("data", document))


DOCUMENTS = {
    "timeline issues": timeline.ISSUES, "timeline pull requests": timeline.PULL_REQUESTS,
    "timeline follow-up": timeline.follow_up_query(3),
    "closers issues": closers.ISSUES, "closers pull requests": closers.PULL_REQUESTS,
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_graphql_document_validates_against_github_s_schema(schema, name):
    errors = graphql.validate(schema, graphql.parse(DOCUMENTS[name]))
    assert not errors, [error.message for error in errors]


# Every field the timeline's documents read that GitHub's schema lets be null, and what the walk does with a null
# (the tests below and in "Bad input" hold it to that): the test fails when a document starts reading another.
NULLABLE = {
    ("Query", "repository"): "the page fails in one line with GitHub's message",
    ("IssueConnection", "nodes"): "the page fails in one line with GitHub's message",
    ("PullRequestConnection", "nodes"): "the page fails in one line with GitHub's message",
    ("Repository", "issueOrPullRequest"): "vanished, counted",
    ("IssueTimelineItemsConnection", "nodes"): "unresolved: counted, retried, else incomplete",
    ("PullRequestTimelineItemsConnection", "nodes"): "unresolved: counted, retried, else incomplete",
    ("PageInfo", "endCursor"): "the end of the connection unless hasNextPage",
    ("Query", "rateLimit"): "one point",
    ("Issue", "closedAt"): "open", ("PullRequest", "closedAt"): "open",
    ("Issue", "author"): "ghost", ("PullRequest", "author"): "ghost", ("IssueComment", "author"): "ghost",
    ("PullRequestReview", "author"): "ghost", ("LabeledEvent", "actor"): "ghost", ("UnlabeledEvent", "actor"): "ghost",
    ("ClosedEvent", "actor"): "ghost", ("MergedEvent", "actor"): "ghost",
}


def test_every_nullable_field_the_walk_reads_has_a_treatment(schema):
    found, info = set(), graphql.TypeInfo(schema)

    class Nullable(graphql.Visitor):
        def enter_field(self, node, *_):
            kind = info.get_type()
            if node.name.value != "__typename" and kind is not None and not graphql.is_non_null_type(kind):
                found.add((info.get_parent_type().name, node.name.value))
    for name in ("timeline issues", "timeline pull requests", "timeline follow-up"):
        graphql.visit(graphql.parse(DOCUMENTS[name]), graphql.TypeInfoVisitor(info, Nullable()))
    assert found == set(NULLABLE)


def _by_alias(source, info, **_args):
    return source.get(info.path.key) if isinstance(source, dict) else None


class _WithTypename(graphql.Visitor):
    """Adds ``__typename`` to every selection, so the answer names the type of each object for the schema."""

    def enter_selection_set(self, node, *_):
        typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"), arguments=(), directives=())
        return graphql.SelectionSetNode(selections=(typename, *node.selections))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_emulator_s_answers_execute_against_github_s_schema(schema, name):
    sample = Sample(800, seed=2)
    heavy = next(n for n in range(1, 801) if len(generated.events(sample, n)) > timeline.EVENTS)
    variables = {"n0": heavy, "c0": None, "n1": 4, "c1": None, "n2": 5, "c2": None}
    document = graphql.visit(graphql.parse(DOCUMENTS[name]), _WithTypename())
    body, _ = ask(sample, graphql.print_ast(document), **variables)
    result = graphql.execute(schema, document, root_value=body["data"],
                             variable_values=dict(variables, owner=OWNER, name=NAME, cursor=None, since=None),
                             field_resolver=_by_alias)
    assert not result.errors, result.errors[:3]
    assert result.data == body["data"]  # every value has its field's type: nothing coerced, nothing dropped


# The walk

def expected(server) -> dict:
    """What the walk must store, from the emulator's own timeline of each item (a reference of its own)."""
    sample = server.emulator.sample
    events, rows, closed_by = {}, {}, {}
    for number in range(1, sample.count + 1):
        author = sample.author(number)
        labels, response, reviews, approvals, merged = [], None, [], [], (None, None)
        for event in generated.events(sample, number):
            at = epoch(event["createdAt"])
            who, what = _kind(event.get("actor", event.get("author")), author)
            if event["__typename"] in ("LabeledEvent", "UnlabeledEvent"):
                labels.append((at, event["__typename"][:-5].lower(), event["label"]["name"], who, what))
            elif what in ("person", "ghost") and event["__typename"] in ("IssueComment", "PullRequestReview"):
                response = response or (at, who)
                if event["__typename"] == "PullRequestReview":
                    reviews.append(at)
                    approvals += [at] if event["state"] == "APPROVED" else []
            elif event["__typename"] == "MergedEvent":
                merged = (at, who)
            elif event["__typename"] == "ClosedEvent" and sample.closed[number]:
                closed_by[number] = who
        events[number] = labels
        rows[number] = (*(response or (None, None)), min(reviews, default=None), min(approvals, default=None),
                        *merged, 1)
    return {"events": events, "rows": rows, "closers": closed_by}


def _kind(who, author):
    if who is None:
        return None, "ghost"
    if who["__typename"] == "Bot" or who["login"] in ROBOTS:
        return who["login"], "bot"
    return who["login"], "author" if who["login"] == author else "person"


def walked(store) -> dict:
    with open_store(store, create=False) as db:
        events = {}
        for number, at, action, label, actor, kind in db.execute(
                "SELECT number, at, action, label, actor, actor_kind FROM label_events ORDER BY number, seq"):
            events.setdefault(number, []).append((at, action, label, actor, kind))
        rows = {row[0]: tuple(row[2:]) for row in db.execute("SELECT * FROM timeline")}
        return {"events": events, "rows": rows, "closers": db.closers()}


def same(got: dict, want: dict) -> None:
    assert got["rows"] == want["rows"]
    assert got["closers"] == want["closers"]
    assert got["events"] == {n: e for n, e in want["events"].items() if e}


def test_the_walk_stores_every_item_s_timeline_at_a_point_per_hundred_items(emulator, store_spec, capsys):
    server = emulator(items=1500)
    assert export(server.url, store_spec, "--timeline") == 0
    got = walked(store_spec)
    same(got, expected(server))
    assert max(len(events) for events in got["events"].values()) > timeline.EVENTS  # follow-ups finished them
    graphql_requests = admin(server, "GET", "stats")["by_route"]["graphql"]
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"timelines of 1500 items, 1500 walked with {graphql_requests} GraphQL requests" in line
    assert graphql_requests <= 1500 // 100 + 2 + 1  # two listings, one follow-up
    with open_store(store_spec, create=False) as db:
        assert db.sync.get("timeline")["bots"] == timeline.DEFAULT_BOTS
        assert db.sync.get("timeline_progress") is None


def test_an_update_walks_only_the_changed_items_and_sees_new_label_events(emulator, store_spec):
    server = emulator(items=2000, users={"bot-token": "labeler[bot]"})
    assert export(server.url, store_spec, "--timeline") == 0
    server.emulator.sample.set_labels(12, ["kind/bug"], time.time(), actor="labeler[bot]")  # GitHub's clock: now
    admin(server, "POST", "touch", count=40, seed=5)
    admin(server, "POST", "reset-stats")
    assert export(server.url, store_spec, "--update", "--timeline") == 0
    assert admin(server, "GET", "stats")["by_route"]["graphql"] <= 3  # not the 20 of a full walk
    same(walked(store_spec), expected(server))
    assert walked(store_spec)["events"][12][-1][1:] == ("labeled", "kind/bug", "labeler[bot]", "bot")


def test_bots_pattern_is_kept_and_a_new_one_walks_everything_again(emulator, tmp_path, capsys):
    server = emulator(items=600)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--timeline", "--bots", "k8s-ci-robot|quinn.*") == 0
    kinds = dict(((actor, kind) for *_, actor, kind in
                  (e for events in walked(store)["events"].values() for e in events)))
    assert kinds.get("k8s-triage-robot") == "person" and kinds.get("quinn") == "bot"
    admin(server, "POST", "reset-stats")
    assert export(server.url, store, "--update", "--timeline") == 0  # the store's pattern again: a short update
    assert admin(server, "GET", "stats")["by_route"]["graphql"] <= 3
    assert export(server.url, store, "--update", "--timeline", "--bots", "k8s-ci-robot|k8s-triage-robot") == 0
    same(walked(store), expected(server))
    assert export(server.url, store, "--timeline", "--bots", "(") == 1
    assert "--bots '(' is not a regular expression" in capsys.readouterr().err


def test_a_walk_killed_mid_way_and_rerun_equals_an_uninterrupted_one(emulator, tmp_path):
    server = emulator(items=2000)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "PATCH", "config", latency_ms=40)  # the walk alone slowed down, to be killed mid-way
    command = [str(VENV_BIN / "k8s-analysis"), "export", "--repo", REPO, "--base-url", server.url, "--store",
               str(store), "--timeline-only", "--quiet"]
    kill_when(command, lambda: '"pullRequests": "' in (state(store, "timeline_progress") or ""))
    assert json.loads(state(store, "timeline_progress"))["issues"] == "done"
    result = subprocess.run(command, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    same(walked(store), expected(server))


def test_ctrl_c_stops_the_walk_within_two_seconds_and_resumes_it_alone(emulator, tmp_path):
    server = emulator(items=2000)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    admin(server, "PATCH", "config", latency_ms=150)  # pages slow enough to press Ctrl-C mid-walk
    process = start(server, store, "--update", "--timeline")
    wait_for(process, lambda: '"issues": "' in (state(store, "timeline_progress") or ""))
    seconds, status, err = interrupt(process)
    assert (status, "Traceback" in err) == (130, False), err
    assert seconds < 2, err
    command = resume_command(err)
    assert "--timeline-only" in command and "--timeline" not in command and "--update" not in command
    admin(server, "POST", "reset-stats")
    result = subprocess.run(command, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert set(admin(server, "GET", "stats")["by_route"]) == {"graphql"}
    same(walked(store), expected(server))


# Bad input

def spoiled(monkeypatch, spoil):
    """The emulator's GraphQL answers passed through ``spoil(body)`` (which may change them in place)."""
    real = emulated.answer

    def answer(*args):
        body, cost = real(*args)
        return spoil(body) or body, cost
    monkeypatch.setattr(emulated, "answer", answer)


def test_null_nodes_unknown_events_and_errors_beside_data_are_counted_not_fatal(emulator, tmp_path, monkeypatch,
                                                                                 capsys):
    server = emulator(items=400)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0

    def spoil(body):
        page = body["data"]["repository"].get("issues")
        if page and page["nodes"]:
            page["nodes"][0] = None
            page["nodes"][1]["timelineItems"]["nodes"].append({"__typename": "TransferredEvent"})
            body.setdefault("errors", []).append({"type": "NOT_FOUND", "message": "Could not resolve"})
    spoiled(monkeypatch, spoil)
    assert export(server.url, store, "--timeline-only") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "(2 vanished, 2 events of unknown types skipped, 2 GraphQL errors beside data)" in line
    with open_store(store, create=False) as db:
        assert db.execute("SELECT COUNT(*) FROM label_events WHERE actor IS NULL AND actor_kind = 'ghost'")[0][0]


@pytest.mark.parametrize("kind, status", [("RATE_LIMITED", 75), ("FORBIDDEN", 1)])
def test_a_refused_query_is_one_line_naming_it(emulator, tmp_path, monkeypatch, capsys, kind, status):
    server = emulator(items=300)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    spoiled(monkeypatch, lambda body: {"errors": [{"type": kind, "message": "Resource not accessible"}]})
    assert export(server.url, store, "--timeline-only") == status
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == ["k8s-analysis: error: GitHub's GraphQL API refused the timeline's query of issues: "
                                "Resource not accessible"]


def test_a_timeline_walk_is_a_closers_walk_for_a_later_closers_walk(emulator, store_spec, tmp_path):
    server = emulator(items=1500)
    baseline = tmp_path / "closers.sqlite"  # a closers walk after a closers walk: what the second one costs
    assert export(server.url, baseline, "--closers") == 0
    admin(server, "POST", "reset-stats")
    assert export(server.url, baseline, "--closers-only") == 0
    after_closers = admin(server, "GET", "stats")["by_route"]["graphql"]
    assert export(server.url, store_spec, "--timeline") == 0
    for command in (["--closers-only"], ["--update", "--closers"]):
        admin(server, "POST", "reset-stats")
        assert export(server.url, store_spec, *command) == 0
        assert admin(server, "GET", "stats")["by_route"]["graphql"] == after_closers <= 2, command  # not 1500 / 100
    same(walked(store_spec), expected(server))


def unresolved(monkeypatch, times: int):
    """The emulator's answers with the timelines of three items of the first issues page unresolved (``null``,
    or GitHub's non-null ``pageInfo`` or nullable ``nodes`` null, an error beside the data), in the first ``times``
    answers naming them (their page, then follow-ups); the items' numbers."""
    spoilt, seen = [], {}

    def spoil(body):
        repository = body["data"]["repository"]
        page = repository.get("issues")
        if page and page["nodes"] and not spoilt:
            spoilt.extend(node["number"] for node in page["nodes"][1:4])
        nodes = (page or {}).get("nodes") or [node for key, node in repository.items() if key[1:].isdigit()]
        for node in nodes:
            if node and node["number"] in spoilt and seen.setdefault(node["number"], 0) < times:
                seen[node["number"]] += 1
                how = spoilt.index(node["number"])
                if how == 0:
                    node["timelineItems"] = None
                else:
                    node["timelineItems"]["pageInfo" if how == 1 else "nodes"] = None
                body.setdefault("errors", []).append({"type": "INTERNAL", "message": "Something went wrong"})
    spoiled(monkeypatch, spoil)
    return spoilt


def test_an_unresolved_timeline_is_counted_and_retried_not_the_end_of_the_walk(emulator, tmp_path, monkeypatch,
                                                                               capsys):
    server = emulator(items=400)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    unresolved(monkeypatch, times=1)
    assert export(server.url, store, "--timeline-only") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "(3 timelines unresolved and retried, 3 GraphQL errors beside data)" in line
    same(walked(store), expected(server))  # every item complete: the retries read them whole


def test_a_timeline_unresolved_every_time_is_left_incomplete_and_the_walk_goes_on(emulator, tmp_path, monkeypatch,
                                                                                  capsys):
    server = emulator(items=400)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0
    numbers = unresolved(monkeypatch, times=100)
    assert export(server.url, store, "--timeline-only") == 0
    tries = 3 * (1 + timeline.RETRIES)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"(3 incomplete, {tries} timelines unresolved and retried, {tries} GraphQL errors beside data)" in line
    got, want = walked(store), expected(server)
    assert {n for n, row in got["rows"].items() if row[-1] == 0} == set(numbers)
    assert all(n not in got["events"] and n not in got["closers"] for n in numbers)  # nothing half read
    for number in numbers:
        del want["rows"][number], want["events"][number]
        want["closers"].pop(number, None)
    same({**got, "rows": {n: r for n, r in got["rows"].items() if n not in numbers}}, want)


def _unresolved_nodes(body):
    body["data"]["repository"]["issues"]["nodes"] = None


@pytest.mark.parametrize("spoil", [lambda body: body["data"].update(repository=None), _unresolved_nodes])
def test_a_page_github_could_not_resolve_is_one_line_with_its_message(emulator, tmp_path, monkeypatch, capsys,
                                                                      spoil):
    server = emulator(items=300)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store) == 0

    def unresolved(body):
        spoil(body)
        body["errors"] = [{"type": "SERVICE_UNAVAILABLE", "path": ["repository"], "message": "Service unavailable"}]
    spoiled(monkeypatch, unresolved)
    assert export(server.url, store, "--timeline-only") == 75
    assert capsys.readouterr().err.strip().splitlines() == [
        "k8s-analysis: error: GitHub's GraphQL API refused the timeline's query of issues: Service unavailable"]
