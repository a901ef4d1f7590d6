"""The labeling bot against the GitHub emulator: the original's scenarios, signatures, faults, replays, CLIs."""
import asyncio
import json
import logging
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pkg_resources
import pytest
import requests

from dffml_k8s_analysis.bot.reconcile import MARKER
from dffml_k8s_analysis.bot.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Secret
from dffml_k8s_analysis.model import artifacts
from dffml_k8s_analysis.records import parse
from dffml_k8s_analysis.serve.deliveries import settled
from dffml_k8s_analysis.serve.service import ServeConfig, running

from conftest import BUG, OTHER, REPO, admin, run_cli, serve_process
from github_material import webhook_errors, webhook_payload

SECRET = "test-webhook-secret"
MUTATING = {"labels_add", "labels_set", "label_remove", "comment_create", "comment_edit", "comment_delete"}
START_LABELS = ["sig/node", "size/S"]


@pytest.fixture(scope="module")
def predictor(model_dir):
    return artifacts.load_predictor(model_dir)


def note_body(note):
    return f"**Does this PR introduce a user-facing change?**\n```release-note\n{note}\n```\n"


def payload(note, action="opened", event="pull_request", number=1, repo=REPO, updated_at=None):
    """A webhook GitHub sent (``@octokit/webhooks-examples``, valid against its schema) about ``number``."""
    data = webhook_payload(event, None if event == "ping" else action)
    member = {"pull_request": "pull_request", "issues": "issue", "issue_comment": "issue"}.get(event)
    if member:
        data[member].update(number=number, body=note_body(note))
        if updated_at:
            data[member]["updated_at"] = updated_at
    data["repository"].update(full_name=repo, name=repo.split("/")[1])
    data["repository"]["owner"]["login"] = repo.split("/")[0]
    assert webhook_errors(event, None if event == "ping" else action, data) == []
    return data


class Bot:
    """An emulated GitHub, one of its PRs with known labels, and the service with the webhook on."""

    def __init__(self, github, url):
        self.github, self.url, self.sample = github, url, github.emulator.sample
        # people set START_LABELS on items that never had kind/bug (one a person removed never comes back)
        self.number, self.issue = (next(n for n in range(1, self.sample.count + 1)
                                        if self.sample.is_pr[n] == pr and "kind/bug" not in self.sample.labels(n))
                                   for pr in (1, 0))
        for number in (self.number, self.issue):
            self.sample.set_labels(number, START_LABELS, time.time())
        github.emulator.reset_stats()

    def delivery(self, note, action="opened", event="pull_request", number=None, repo=REPO, edit=True):
        """The raw payload of a delivery about the item with ``note``; ``edit``: the author writes it on GitHub first."""
        number = number or self.number
        if edit and note is not None:
            self.sample.set_body(number, note_body(note), time.time())
        item = self.sample.item(number, "") if 1 <= number <= self.sample.count else {}
        return json.dumps(payload(note, action, event, number, repo, item.get("updated_at"))).encode()

    def deliver(self, note=None, action="opened", event="pull_request", number=None, secret=SECRET, signature=None,
                raw=None, repo=REPO, delivery=None, edit=True):
        """POST a delivery (made by :meth:`delivery` unless ``raw``); the service's immediate answer."""
        raw = self.delivery(note, action, event, number, repo, edit) if raw is None else raw
        headers = {"X-GitHub-Event": event, "Content-Type": "application/json",
                   DELIVERY_HEADER: delivery or str(uuid.uuid4())}
        if signature is None:
            signature = Secret(secret).sign(raw)
        if signature:
            headers[SIGNATURE_HEADER] = signature
        return requests.post(self.url + "/webhook", data=raw, headers=headers)

    def label(self, note=None, **delivery):
        """Deliver, wait for the queue, and return the outcome."""
        answer = self.deliver(note, **delivery)
        assert answer.status_code == 202, answer.text
        return settled(self.url, answer.json()["queued"])["outcome"]

    def labels(self, number=None):
        return self.sample.labels(number or self.number)

    def comments(self, number=None):
        """The bot's comments: (id, body)."""
        found = [self.sample.comment(cid, "") for cid in self.sample.comment_ids(number or self.number)]
        return [(c["id"], c["body"]) for c in found if MARKER in c["body"]]

    def stats(self):
        return self.github.emulator.stats

    def writes(self):
        return {route: n for route, n in self.stats()["by_route"].items() if route in MUTATING}


@pytest.fixture
def bot(emulator, model_dir, tmp_path):  # noqa: F811
    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"), retry_backoff_s=0.1)
    with running(config) as url:
        yield Bot(github, url)


def test_the_original_scenarios(bot, predictor):
    bug, other = predictor.predict([BUG, OTHER], [START_LABELS] * 2)  # the PR's labels on GitHub are inputs
    assert predictor.band(bug) == "act" and predictor.band(other) == "none"
    opened = bot.label(BUG)
    assert opened == {"repo": REPO, "number": bot.number, "note": True, "probability": pytest.approx(bug),
                      "threshold": predictor.threshold, "act": predictor.act, "band": "act", "mode": "act",
                      "decision": "add", "why": "the act band", "deferred": False, "model_label": "kind/bug",
                      "label": "added", "comment": "created"}
    assert bot.labels() == START_LABELS + ["kind/bug"]
    [(comment_id, body)] = bot.comments()
    assert f"Added `kind/bug`: probability {bug:.2f}, at or above {predictor.act:.2f}" in body
    assert "The note's words that weighed most: `" in body

    bot.github.emulator.reset_stats()
    replay = bot.label(BUG)
    assert replay["label"] == "kept" and replay["comment"] == "unchanged"
    assert bot.writes() == {}
    assert bot.comments() == [(comment_id, body)]

    edited = bot.label(OTHER, action="edited")
    assert edited["label"] == "removed" and edited["comment"] == "edited"
    assert bot.labels() == START_LABELS
    [(same_id, body)] = bot.comments()
    assert same_id == comment_id
    assert f"Removed `kind/bug`, which this bot had added: probability {other:.2f}" in body

    none = bot.label("NONE", action="edited")
    assert none == {"repo": REPO, "number": bot.number, "mode": "act", "note": False, "label": "untouched",
                    "comment": "deleted"}
    assert bot.comments() == [] and bot.labels() == START_LABELS

    bot.github.emulator.reset_stats()
    for _ in range(2):
        assert bot.label("NONE", action="edited")["comment"] == "none"
    assert bot.writes() == {}


def test_the_bot_predicts_from_the_note_and_the_prs_labels_on_github(bot, predictor):
    note = "Update the kubelet handling of pod restarts"
    labels = ["sig/node", "area/kubelet", "size/S"]
    bot.sample.set_labels(bot.number, labels, time.time())
    outcome = bot.label(note)
    assert outcome["probability"] == pytest.approx(predictor.predict([note], [labels])[0])
    assert predictor.predict([note], [labels]) != predictor.predict([note])  # the labels made a difference


def test_a_body_that_links_documentation_gives_the_model_the_docs_input(bot):
    from operations.label import fetch_item

    labels = ["sig/node", "size/S"]
    bot.sample.set_labels(bot.number, labels, time.time())
    item = {"repo": REPO, "number": bot.number}
    bot.sample.set_body(bot.number, note_body("Add X") + "```docs\n- [KEP]: https://git.k8s.io/enhancements/keps/1\n```\n",
                        time.time())
    assert asyncio.run(fetch_item(item, bot.github.url))["labels"] == labels + ["docs/linked"]
    bot.sample.set_body(bot.number, note_body("Add X") + "```docs\n\n```\n", time.time())
    assert asyncio.run(fetch_item(item, bot.github.url))["labels"] == labels


def test_a_non_bug_note_on_a_fresh_pr_writes_nothing(bot):
    answer = bot.label(OTHER, action="reopened")
    assert answer["label"] == "not added" and answer["comment"] == "none" and answer["band"] == "none"
    assert bot.labels() == START_LABELS and bot.comments() == [] and bot.writes() == {}


def test_issues_events_are_labelled_too(bot):
    answer = bot.label(BUG, event="issues", number=bot.issue)
    assert answer["label"] == "added"
    assert bot.labels(bot.issue) == START_LABELS + ["kind/bug"] and len(bot.comments(bot.issue)) == 1


@pytest.mark.parametrize("how", ["wrong secret", "missing", "tampered", "sha1 form", "garbage"])
def test_bad_signatures_get_401_and_no_github_call(bot, how):
    raw = json.dumps(payload(BUG, number=bot.number)).encode()
    signature = {
        "wrong secret": Secret("another").sign(raw),
        "missing": "",
        "tampered": Secret(SECRET).sign(raw + b" "),
        "sha1 form": "sha1=" + Secret(SECRET).sign(raw)[7:47],
        "garbage": "sha256=ünïcode",
    }[how]
    answer = bot.deliver(raw=raw, signature=signature)
    assert answer.status_code == 401
    assert SIGNATURE_HEADER in answer.json()["error"]
    assert bot.stats()["requests"] == 0
    assert bot.labels() == START_LABELS and bot.comments() == []


@pytest.mark.parametrize("event, action, repo, reason", [
    ("ping", "opened", REPO, "event 'ping' is not handled"),
    ("issue_comment", "created", REPO, "event 'issue_comment' is not handled"),
    ("pull_request", "closed", REPO, "pull_request action 'closed' is not handled"),
    ("pull_request", "ready_for_review", REPO, "pull_request action 'ready_for_review' is not handled"),
    ("pull_request", "opened", "someone/else", "repository someone/else is not kubernetes/kubernetes"),
])
def test_other_events_are_ignored_with_2xx(bot, event, action, repo, reason):
    answer = bot.deliver(BUG, event=event, action=action, repo=repo)
    assert answer.status_code == 200
    assert answer.json() == {"ignored": reason}
    assert bot.stats()["requests"] == 0


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, got list"),
    (b'{"action": "opened", "pull_request": {"body": "x"}, "repository": {"full_name": "a/b"}}', "pull_request.number"),
])
def test_signed_but_malformed_payloads_get_400(bot, raw, message):
    answer = bot.deliver(raw=raw)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert bot.stats()["requests"] == 0


@pytest.mark.parametrize("faults, status", [
    ({"fault_rate": 0.35}, "502"),
    ({"secondary_every": 3}, "403"),
    ({"rate_limit": 3, "rate_reset_s": 1}, "403"),
])
def test_github_failing_mid_reconcile_is_retried_and_never_makes_two_comments(bot, faults, status):
    admin(bot.github, "PATCH", "config", **faults)
    assert bot.label(BUG)["label"] == "added"
    assert bot.label(OTHER, action="edited")["label"] == "removed"
    assert bot.label(BUG, action="edited")["label"] == "added"
    assert bot.labels() == START_LABELS + ["kind/bug"]
    assert len(bot.comments()) == 1
    assert bot.stats()["by_status"].get(status, 0) > 0  # the faults really happened


def test_concurrent_deliveries_for_one_item_make_one_comment(bot):
    raw = bot.delivery(BUG)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: bot.deliver(raw=raw), range(4)))
    assert [a.status_code for a in answers] == [202] * 4
    outcomes = [settled(bot.url, a.json()["queued"])["outcome"] for a in answers]
    assert sorted(o["comment"] for o in outcomes) == ["created", "unchanged", "unchanged", "unchanged"]
    assert len(bot.comments()) == 1 and bot.writes() == {"labels_add": 1, "comment_create": 1}


def test_github_unreachable_is_a_failed_delivery_naming_it(model_dir, tmp_path):  # noqa: F811
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = ServeConfig(str(model_dir), base_url=closed, secret=Secret(SECRET), state=str(tmp_path / "bot.sqlite"),
                         retry_backoff_s=0.05)
    raw = json.dumps(payload(BUG)).encode()
    with running(config) as url:
        answer = requests.post(url + "/webhook", data=raw, headers={
            "X-GitHub-Event": "pull_request", SIGNATURE_HEADER: Secret(SECRET).sign(raw), DELIVERY_HEADER: "d-1"})
        assert answer.status_code == 202
        found = settled(url, "d-1")
    assert found["state"] == "failed"
    assert "cannot reach GitHub for kubernetes/kubernetes#1" in found["outcome"]["error"]


def test_the_secret_never_reaches_the_logs(bot, caplog):
    with caplog.at_level(logging.DEBUG):
        bot.label(BUG)
        bot.deliver(BUG, secret="wrong")
    assert caplog.records and SECRET not in caplog.text


def pr_with_note(sample):
    """A PR number of the sample whose body has a release note, and the note."""
    for number in range(1, sample.count + 1):
        note = parse.record(sample.item(number, ""))["release_note"]
        if sample.is_pr[number] and note:
            return number, note
    raise AssertionError("the sample has no PR with a release note")


def expected(predictor, note, before):
    """The labels after the bot and its comment's fate, on an item whose labels were all set by people."""
    band = predictor.band(predictor.predict([note], [before])[0])  # the bot passes the PR's labels
    if "kind/bug" in before:
        return before, "none"
    if any(name.startswith("kind/") for name in before):  # a person chose a kind: at most a suggestion
        return before, "created" if band == "act" else "none"
    return before + ["kind/bug"] * (band == "act"), "none" if band == "none" else "created"


def test_label_command_reconciles_one_item_and_reruns_write_nothing(emulator, model_dir, predictor):  # noqa: F811
    github = emulator(items=40)
    sample = github.emulator.sample
    number, note = pr_with_note(sample)
    before = sample.labels(number)
    command = ["k8s-analysis", "label", "--repo", REPO, "--number", str(number), "--base-url", github.url,
               "--model-dir", str(model_dir)]
    first = run_cli(*command)
    assert first.returncode == 0, first.stderr
    labels, comment = expected(predictor, note, before)
    assert json.loads(first.stdout)["comment"] == comment
    assert json.loads(first.stdout)["probability"] == pytest.approx(predictor.predict([note], [before])[0])
    assert sorted(sample.labels(number)) == sorted(labels)
    github.emulator.reset_stats()
    again = run_cli(*command)
    assert json.loads(again.stdout)["comment"] == ("unchanged" if comment == "created" else "none")
    assert not set(github.emulator.stats["by_route"]) & MUTATING


def test_label_command_errors_are_one_line(emulator, tmp_path, model_dir):  # noqa: F811
    github = emulator(items=40)
    missing = run_cli("k8s-analysis", "label", "--number", "999", "--base-url", github.url, "--model-dir", str(model_dir))
    assert missing.returncode == 1 and "k8s-analysis: error: not found: kubernetes/kubernetes#999" in missing.stderr
    number, _ = pr_with_note(github.emulator.sample)
    no_model = run_cli("k8s-analysis", "label", "--number", str(number), "--base-url", github.url,
                       "--model-dir", str(tmp_path / "none"))
    assert no_model.returncode == 1 and "k8s-analysis train" in no_model.stderr


def test_dffml_dataflow_run_on_label_yaml(emulator, model_dir, predictor):  # noqa: F811
    names = {entry.name for entry in pkg_resources.iter_entry_points("dffml.operation")}
    needed = {"k8s.verify_webhook", "k8s.webhook_item", "k8s.fetch_item", "k8s.predict_note", "k8s.reconcile_labels"}
    assert needed <= names, f"add the dffml.operation entry points {sorted(needed - names)} to setup.cfg and reinstall"
    github = emulator(items=40)
    sample = github.emulator.sample
    number, note = pr_with_note(sample)
    before = sample.labels(number)
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/label.yaml", "-inputs",
                     f"{REPO}=github.repo", f"{number}=github.number", f"{github.url}=github.base_url",
                     f"{model_dir}=label.model_dir")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)[0]["label.outcome"]
    labels, comment = expected(predictor, note, before)
    assert outcome["number"] == number and outcome["comment"] == comment and outcome["mode"] == "act"
    assert sorted(sample.labels(number)) == sorted(labels)
    github.emulator.reset_stats()
    shadow = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/label.yaml", "-inputs",
                     f"{REPO}=github.repo", f"{number}=github.number", f"{github.url}=github.base_url",
                     f"{model_dir}=label.model_dir", "shadow=label.mode")
    assert json.loads(shadow.stdout)[0]["label.outcome"]["mode"] == "shadow"
    assert not set(github.emulator.stats["by_route"]) & MUTATING


def test_only_comments_written_by_the_bots_own_account_are_its_own(emulator, model_dir, tmp_path, monkeypatch):
    github = emulator(items=40, users={"bot-token": "k8s-release-bot"})
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"))
    with running(config) as url:
        bot = Bot(github, url)
        lookalike = f"{MARKER}\nI wrote this myself, marker and all."
        theirs = bot.sample.add_comment(bot.number, lookalike, "someone", time.time())
        assert bot.label(BUG)["comment"] == "created"
        assert bot.label(OTHER, action="edited")["comment"] == "edited"
        assert bot.label("NONE", action="edited")["comment"] == "deleted"
    assert bot.sample.comment(theirs, "")["body"] == lookalike  # never edited, never deleted
    assert [c for c in bot.comments() if c[0] != theirs] == []
    assert bot.stats()["by_route"]["user"] == 1  # the bot's login is asked once


def test_decisions_follow_github_not_the_delivery_and_replays_change_nothing(bot, tmp_path):
    d1 = bot.delivery(BUG)  # the author writes a bug note: delivery d1
    assert bot.label(raw=d1, delivery="d1")["label"] == "added"
    assert bot.label(OTHER, action="edited", delivery="d2")["label"] == "removed"  # then a feature note: d2
    again = bot.deliver(raw=d1, delivery="d1")
    assert again.status_code == 200 and again.json()["ignored"] == "delivery d1 was received before"
    renamed = bot.label(raw=d1, delivery="d1-with-another-id")  # the id is not signed: an older payload anyway
    assert "is older than" in renamed["ignored"]
    lying = bot.label(BUG, action="edited", edit=False)  # a new delivery whose payload says bug; GitHub says not
    assert lying["label"] == "not added" and lying["probability"] < lying["threshold"]
    assert "kind/bug" not in bot.labels() and len(bot.comments()) == 1


def test_deliveries_seen_are_remembered_across_a_restart(emulator, model_dir, tmp_path):
    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"))
    with running(config) as url:
        bot = Bot(github, url)
        raw = bot.delivery(BUG)
        assert bot.label(raw=raw, delivery="once")["label"] == "added"
    with running(config) as url:
        bot.url = url
        again = bot.deliver(raw=raw, delivery="once")
    assert again.status_code == 200 and "received before" in again.json()["ignored"]


@pytest.mark.parametrize("header", ["", "a" * 101, "../x", "d 1"])
def test_a_missing_or_malformed_delivery_id_gets_400(bot, header):
    raw = bot.delivery(BUG)
    headers = {"X-GitHub-Event": "pull_request", SIGNATURE_HEADER: Secret(SECRET).sign(raw), DELIVERY_HEADER: header}
    answer = requests.post(bot.url + "/webhook", data=raw, headers=headers)
    assert answer.status_code == 400 and DELIVERY_HEADER in answer.json()["error"]


@pytest.mark.parametrize("full_name", ["kubernetes/kubernetes?x=1", "kubernetes/kubernetes#f", "../..", "a/b/c",
                                       "-a/b", "a/..", "a/b c"])
def test_a_repository_name_github_would_not_allow_gets_400_and_no_github_call(emulator, model_dir, tmp_path,
                                                                               full_name):
    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, secret=Secret(SECRET), state=str(tmp_path / "b.sqlite"))
    with running(config) as url:
        answer = Bot(github, url).deliver(BUG, repo=full_name)
    assert answer.status_code == 400 and "repository must be OWNER/NAME" in answer.json()["error"]
    assert github.emulator.stats["requests"] == 0


def test_deeply_nested_json_in_a_signed_delivery_gets_400(bot):
    answer = bot.deliver(raw=b"[" * 100_000 + b"]" * 100_000)
    assert answer.status_code == 400 and answer.json() == {"error": "the payload is JSON nested too deeply"}


@pytest.mark.serial  # timing-sensitive: run alone (Makefile)
def test_during_a_github_outage_deliveries_are_answered_at_once_and_fail_in_bounded_tries(bot):
    admin(bot.github, "PATCH", "config", fault_rate=1.0)
    raws = [bot.delivery(BUG, number=number, edit=False) for number in range(1, 11)]
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda raw: bot.deliver(raw=raw), raws))
    answered = time.monotonic() - started
    assert [a.status_code for a in answers] == [202] * 10 and answered < 2, answered
    errors = {settled(bot.url, a.json()["queued"])["outcome"]["error"] for a in answers}
    assert all(e.startswith("GitHub answered 502 to kubernetes/kubernetes#") for e in errors), errors
    from dffml_k8s_analysis.bot.reconcile import GITHUB_RETRIES
    from dffml_k8s_analysis.serve.deliveries import ATTEMPTS
    assert bot.stats()["requests"] <= 10 * ATTEMPTS * (GITHUB_RETRIES + 1)


@pytest.mark.serial  # timing-sensitive: run alone (Makefile)
def test_a_hanging_github_does_not_hold_the_webhook(bot):
    admin(bot.github, "PATCH", "config", latency_ms=60_000)
    started = time.monotonic()
    answer = bot.deliver(BUG, edit=False)
    assert answer.status_code == 202 and time.monotonic() - started < 2


@pytest.mark.parametrize("where", ["one SQLite store", "one PostgreSQL store", "a SQLite file each"])
def test_two_server_processes_receiving_the_same_deliveries_post_one_comment(emulator, model_dir, tmp_path, where,
                                                                             request):
    """Two replicas at 100 ms GitHub latency: with a shared store a lease per item, without it convergence."""
    github = emulator(items=40, latency_ms=100)
    env = {"WEBHOOK_SECRET": SECRET}
    common = ["--model-dir", str(model_dir), "--base-url", github.url, "--repo", REPO]
    state = str(tmp_path / "a.sqlite")
    if "PostgreSQL" in where:
        state = request.getfixturevalue("postgres_server").create_database() + "#" + REPO
    other = str(tmp_path / "b.sqlite") if "each" in where else state
    with serve_process(*common, "--state", state, env=env) as (_, first), \
            serve_process(*common, "--state", other, env=env) as (_, second):
        bot = Bot(github, first)
        numbers = [n for n in range(1, 41) if bot.sample.is_pr[n] and "kind/bug" not in bot.sample.labels(n)][:3]
        sent = []
        for number in numbers:
            bot.sample.set_labels(number, START_LABELS, time.time())
            raw = bot.delivery(BUG, number=number)
            for delivery in (f"same-{number}", f"other-{number}"):  # one id to both, then one id each
                for url in (first, second):
                    sent.append((url, raw, delivery if delivery.startswith("same") else f"{delivery}-{url[-5:]}"))
        def post(job):
            url, raw, delivery = job
            return url, requests.post(url + "/webhook", data=raw, headers={
                "X-GitHub-Event": "pull_request", SIGNATURE_HEADER: Secret(SECRET).sign(raw), DELIVERY_HEADER: delivery})
        with ThreadPoolExecutor(len(sent)) as pool:
            answers = list(pool.map(post, sent))
        for url, answer in answers:
            assert answer.status_code in (200, 202), answer.text
            if answer.status_code == 202:
                assert settled(url, answer.json()["queued"])["state"] == "done"
    queued = [delivery for (_, _, delivery), (_, answer) in zip(sent, answers) if answer.status_code == 202]
    for number in numbers:  # a delivery id sent to both replicas is taken by one when they share the store
        assert queued.count(f"same-{number}") == (2 if "each" in where else 1), queued
        assert len(bot.comments(number)) == 1, number
        assert bot.labels(number).count("kind/bug") == 1


def test_an_unusable_state_store_is_one_line(model_dir, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    result = run_cli("k8s-analysis", "serve", "--model-dir", str(model_dir), "--port", "0", "--state",
                     str(tmp_path / "file" / "bot.sqlite"), env={"WEBHOOK_SECRET": SECRET})
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("k8s-analysis: error")]
    assert line.startswith("k8s-analysis: error: cannot use the bot's state store: cannot write in ")


def label_delivery(bot, action, name, sender="alice"):
    """A labeled/unlabeled delivery about the bot's PR, as GitHub sends it after ``sender`` changed ``name``."""
    item = bot.sample.item(bot.number, "")
    data = payload(None, action, number=bot.number, updated_at=item["updated_at"])
    data["label"]["name"], data["sender"]["login"] = name, sender
    assert webhook_errors("pull_request", action, data) == []
    return json.dumps(data).encode()


def test_a_person_unlabeling_deletes_the_bots_comment_at_once_and_other_labels_are_ignored(emulator, model_dir,
                                                                                           tmp_path, monkeypatch):
    github = emulator(items=40, users={"bot-token": "k8s-release-bot[bot]", "person-token": "alice"})
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"))
    with running(config) as url:
        bot = Bot(github, url)
        assert bot.label(BUG)["label"] == "added" and len(bot.comments()) == 1
        answer = requests.delete(f"{github.url}/repos/{REPO}/issues/{bot.number}/labels/kind%2Fbug",
                                 headers={"Authorization": "token person-token"})
        assert answer.ok
        outcome = bot.label(raw=label_delivery(bot, "unlabeled", "kind/bug"), event="pull_request")
        assert outcome["why"] == "a person removed kind/bug" and outcome["comment"] == "deleted"
        assert bot.comments() == [] and "kind/bug" not in bot.labels()
        github.emulator.reset_stats()
        assert bot.label(BUG, action="edited")["label"] == "left to a person"  # never added back
        assert bot.writes() == {}
        ignored = bot.deliver(raw=label_delivery(bot, "labeled", "size/M"))
    assert ignored.status_code == 200 and ignored.json() == {
        "ignored": "pull_request labeled 'size/M': not a label the bot manages"}


def test_the_deliveries_of_the_bots_own_label_writes_cost_no_request_but_a_persons_still_do(emulator, model_dir,
                                                                                            tmp_path, monkeypatch,
                                                                                            caplog):
    github = emulator(items=40, users={"bot-token": "k8s-release-bot[bot]", "person-token": "alice"})
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    state = tmp_path / "bot.sqlite"
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET), state=str(state))
    with running(config) as url:
        bot = Bot(github, url)
        assert bot.label(BUG)["label"] == "added"
        github.emulator.reset_stats()
        with caplog.at_level(logging.DEBUG, logger="dffml_k8s_analysis.serve.service"):
            own = bot.deliver(raw=label_delivery(bot, "labeled", "kind/bug", sender="K8s-Release-Bot[bot]"))
        assert own.status_code == 200 and own.json() == {"ignored": "pull_request labeled 'kind/bug' by the bot's "
                                                         "own account k8s-release-bot[bot]: its own write"}
        assert bot.stats()["requests"] == 0  # not one request: no reconcile
        assert any("by the bot's own account" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
        person = bot.label(raw=label_delivery(bot, "labeled", "kind/bug", sender="alice"))  # a claim to check
        assert person["label"] == "kept" and bot.stats()["by_route"]["events_list"] == 1
    result = run_cli("k8s-analysis", "bot", "report", "--state", str(state), "--base-url", github.url, "--mode", "act",
                     env={"GITHUB_TOKEN": "bot-token"})
    assert result.returncode == 0, result.stderr
    assert "deliveries its own label writes caused, skipped: 1" in result.stdout


def test_serve_in_shadow_mode_writes_nothing_and_records_what_it_would_do(emulator, model_dir, tmp_path):
    from dffml_k8s_analysis.bot.rules import BotMode
    from dffml_k8s_analysis.store import open_store

    github = emulator(items=40)
    state = str(tmp_path / "bot.sqlite")
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET), state=state,
                         bot=BotMode("shadow"))
    with running(config) as url:
        bot = Bot(github, url)
        outcome = bot.label(BUG)
    assert outcome["mode"] == "shadow" and outcome["would"] == {"add": ["kind/bug"], "remove": [], "comment": "added"}
    assert bot.writes() == {} and bot.labels() == START_LABELS and bot.comments() == []
    with open_store(state) as db:
        [(number, _, label, decision, _)] = db.bot.decisions(REPO.lower(), "shadow", 10)
    assert (number, label, decision) == (bot.number, "kind/bug", "add")


def test_label_since_sweeps_the_items_updated_since_under_the_rules(emulator, model_dir, tmp_path):
    """Deliveries lost in an outage: the sweep reconciles what changed since, and nothing older."""
    from dffml_k8s_analysis import timeutil

    github = emulator(items=40)
    bot = Bot(github, "")
    since = time.time() + 5  # every item's updated_at is older
    lost = [n for n in range(1, 41) if bot.sample.is_pr[n] and "kind/bug" not in bot.sample.labels(n)][:3]
    for number in lost:
        bot.sample.set_labels(number, START_LABELS, since)
        bot.sample.set_body(number, note_body(BUG), since + 1)
    state = str(tmp_path / "bot.sqlite")
    command = ["k8s-analysis", "label", "--since", timeutil.from_epoch(since), "--base-url", github.url,
               "--model-dir", str(model_dir), "--state", state]
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(o["number"] for o in outcomes) == sorted(lost)
    assert all(o["label"] == "added" for o in outcomes) and all(bot.labels(n)[-1] == "kind/bug" for n in lost)
    from dffml_k8s_analysis.store import open_store

    with open_store(state) as db:  # its decisions, for the report; no lease left behind
        assert sorted(row[0] for row in db.bot.decisions(REPO.lower(), "act", 10)) == sorted(lost)
        assert db.execute("SELECT count(*) FROM leases")[0][0] == 0
    bad = run_cli("k8s-analysis", "label", "--since", "yesterday", "--base-url", github.url, "--model-dir",
                  str(model_dir))
    assert bad.returncode == 1 and bad.stderr.strip().endswith("--since must be a time as GitHub writes it, such as "
                                                                "2026-12-01T00:00:00Z, got 'yesterday'")


def test_the_periodic_sweep_labels_items_whose_deliveries_were_lost_once_across_replicas(emulator, model_dir,
                                                                                          tmp_path):
    from dffml_k8s_analysis import background
    from dffml_k8s_analysis.serve.service import QUEUE, start

    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET),
                         state=str(tmp_path / "bot.sqlite"), catch_up_s=3600)  # the test calls the sweep itself
    started = time.time()
    bot = Bot(github, "")
    lost = [n for n in range(1, 41) if bot.sample.is_pr[n] and "kind/bug" not in bot.sample.labels(n)][:2]
    for number in lost:  # edited during an outage: no delivery came
        bot.sample.set_labels(number, START_LABELS, time.time())
        bot.sample.set_body(number, note_body(BUG), time.time())
    ids = [f"sweep-{n}-{''.join(c for c in bot.sample.item(n, '')['updated_at'] if c.isdigit())}" for n in lost]
    with background.in_thread(lambda: start(config, "127.0.0.1", 0), "serve") as (loop, runner), \
            background.in_thread(lambda: start(config, "127.0.0.1", 0), "replica") as (loop2, runner2):
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        first = asyncio.run_coroutine_threadsafe(runner.app[QUEUE].catch_up(), loop)
        second = asyncio.run_coroutine_threadsafe(runner2.app[QUEUE].catch_up(), loop2)
        changed = [n for n in range(1, 41) if bot.sample.updated[n] >= int(started)]  # lost, and Bot's issue
        assert first.result() + second.result() == len(changed) > len(lost)  # once, by either replica
        assert [settled(url, delivery)["outcome"]["label"] for delivery in ids] == ["added"] * len(lost)
    assert all(bot.labels(n)[-1] == "kind/bug" and len(bot.comments(n)) == 1 for n in lost)


def test_a_delivery_for_an_item_github_does_not_have_is_one_line_and_writes_nothing(bot):
    found = settled(bot.url, bot.deliver(BUG, number=999, edit=False).json()["queued"])
    assert found["state"] == "failed" and bot.writes() == {}
    assert found["outcome"] == {"error": "not found: kubernetes/kubernetes#999 (check the repository name and the "
                                         "token's access)"}


def test_the_words_that_weighed_most_come_from_the_note_and_push_toward_the_label(predictor):
    words = predictor.weighed(BUG, START_LABELS)
    assert 1 <= len(words) <= 3
    assert all(token in BUG.lower() for word in words for token in word.split())  # stems of the note's words
    assert not any("/" in word or word.startswith("x") for word in words)  # no label or marker tokens
    without = BUG.lower().replace(words[0].split()[0], "")
    assert predictor.predict([without], [START_LABELS])[0] < predictor.predict([BUG], [START_LABELS])[0]


def test_a_delivery_for_a_deleted_item_is_one_line_and_writes_nothing(bot):
    bot.sample.deleted.add(bot.number)
    found = settled(bot.url, bot.deliver(BUG, edit=False).json()["queued"])
    assert found["state"] == "failed" and bot.writes() == {}
    assert found["outcome"] == {"error": f"GitHub answered 410 to kubernetes/kubernetes#{bot.number}: "
                                         "This issue was deleted"}
