"""The labeling bot against the GitHub emulator: the original's scenarios, signatures, faults, replays, CLIs."""
import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pkg_resources
import pytest
import requests

from dffml_k8s_analysis.bot.reconcile import MARKER
from dffml_k8s_analysis.bot.webhook import SIGNATURE_HEADER, Secret
from dffml_k8s_analysis.model import artifacts
from dffml_k8s_analysis.records import parse
from dffml_k8s_analysis.serve.service import ServeConfig, running

from conftest import BUG, OTHER, REPO, admin, run_cli
from github_material import webhook_errors, webhook_payload

SECRET = "test-webhook-secret"
MUTATING = {"labels_add", "labels_set", "label_remove", "comment_create", "comment_edit", "comment_delete"}
START_LABELS = ["sig/node", "size/S"]


@pytest.fixture(scope="module")
def predictor(model_dir):
    return artifacts.load_predictor(model_dir)


def payload(note, action="opened", event="pull_request", number=1, repo=REPO):
    """A webhook GitHub sent (``@octokit/webhooks-examples``, valid against its schema) about ``number``."""
    data = webhook_payload(event, None if event == "ping" else action)
    member = {"pull_request": "pull_request", "issues": "issue", "issue_comment": "issue"}.get(event)
    if member:
        data[member].update(number=number, body=f"**Does this PR introduce a user-facing change?**\n"
                                                f"```release-note\n{note}\n```\n")
    data["repository"].update(full_name=repo, name=repo.split("/")[1])
    data["repository"]["owner"]["login"] = repo.split("/")[0]
    assert webhook_errors(event, None if event == "ping" else action, data) == []
    return data


class Bot:
    """An emulated GitHub, one of its PRs with known labels, and the service with the webhook on."""

    def __init__(self, github, url):
        self.github, self.url, self.sample = github, url, github.emulator.sample
        self.number = next(n for n in range(1, self.sample.count + 1) if self.sample.is_pr[n])
        self.issue = next(n for n in range(1, self.sample.count + 1) if not self.sample.is_pr[n])
        for number in (self.number, self.issue):
            self.sample.set_labels(number, START_LABELS, time.time())
        github.emulator.reset_stats()

    def deliver(self, note, action="opened", event="pull_request", number=None, secret=SECRET, signature=None,
                raw=None, repo=REPO):
        raw = json.dumps(payload(note, action, event, number or self.number, repo)).encode() if raw is None else raw
        headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
        if signature is None:
            signature = Secret(secret).sign(raw)
        if signature:
            headers[SIGNATURE_HEADER] = signature
        return requests.post(self.url + "/webhook", data=raw, headers=headers)

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
def bot(emulator, model_dir):  # noqa: F811
    github = emulator(items=40)
    config = ServeConfig(str(model_dir), base_url=github.url, repo=REPO, secret=Secret(SECRET))
    with running(config) as url:
        yield Bot(github, url)


def test_the_original_scenarios(bot, predictor):
    bug, other = predictor.predict([BUG, OTHER])
    opened = bot.deliver(BUG)
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"repo": REPO, "number": bot.number, "note": True, "probability": pytest.approx(bug),
                             "threshold": predictor.threshold, "label": "added", "comment": "created"}
    assert bot.labels() == START_LABELS + ["kind/bug"]
    [(comment_id, body)] = bot.comments()
    assert f"probability {bug:.3f}, threshold {predictor.threshold:.2f}" in body and "Added the `kind/bug`" in body

    bot.github.emulator.reset_stats()
    replay = bot.deliver(BUG)
    assert replay.json()["label"] == "kept" and replay.json()["comment"] == "unchanged"
    assert bot.writes() == {}
    assert bot.comments() == [(comment_id, body)]

    edited = bot.deliver(OTHER, action="edited")
    assert edited.json()["label"] == "removed" and edited.json()["comment"] == "edited"
    assert bot.labels() == START_LABELS
    [(same_id, body)] = bot.comments()
    assert same_id == comment_id
    assert f"probability {other:.3f}" in body and "Removed the `kind/bug`" in body

    none = bot.deliver("NONE", action="edited")
    assert none.json() == {"repo": REPO, "number": bot.number, "note": False, "label": "untouched", "comment": "deleted"}
    assert bot.comments() == [] and bot.labels() == START_LABELS

    bot.github.emulator.reset_stats()
    for _ in range(2):
        assert bot.deliver("NONE", action="edited").json()["comment"] == "none"
    assert bot.writes() == {}


def test_a_non_bug_note_on_a_fresh_pr_adds_no_label_but_says_so(bot):
    answer = bot.deliver(OTHER, action="reopened")
    assert answer.json()["label"] == "not added" and answer.json()["comment"] == "created"
    assert bot.labels() == START_LABELS
    assert "Did not add the `kind/bug`" in bot.comments()[0][1]
    assert bot.writes() == {"comment_create": 1}


def test_issues_events_are_labelled_too(bot):
    answer = bot.deliver(BUG, event="issues", number=bot.issue)
    assert answer.json()["label"] == "added"
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
    answer = bot.deliver(BUG, raw=raw, signature=signature)
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
    answer = bot.deliver(BUG, raw=raw)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert bot.stats()["requests"] == 0


@pytest.mark.parametrize("faults, status", [
    ({"fault_rate": 0.35}, "502"),
    ({"secondary_every": 3}, "403"),
    ({"rate_limit": 3, "rate_reset_s": 1}, "403"),
])
def test_github_failing_mid_reconcile_is_retried_and_never_makes_two_comments(bot, faults, status):
    admin(bot.github, "PATCH", "config", **faults)
    assert bot.deliver(BUG).json()["label"] == "added"
    assert bot.deliver(OTHER, action="edited").json()["label"] == "removed"
    assert bot.deliver(BUG, action="edited").json()["label"] == "added"
    assert bot.labels() == START_LABELS + ["kind/bug"]
    assert len(bot.comments()) == 1
    assert bot.stats()["by_status"].get(status, 0) > 0  # the faults really happened


def test_concurrent_deliveries_for_one_item_make_one_comment(bot):
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: bot.deliver(BUG), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert sorted(a.json()["comment"] for a in answers) == ["created", "unchanged", "unchanged", "unchanged"]
    assert len(bot.comments()) == 1 and bot.writes() == {"labels_add": 1, "comment_create": 1}


def test_github_unreachable_answers_502_naming_it(model_dir):  # noqa: F811
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = ServeConfig(str(model_dir), base_url=closed, secret=Secret(SECRET))
    raw = json.dumps(payload(BUG)).encode()
    with running(config) as url:
        answer = requests.post(url + "/webhook", data=raw, headers={
            "X-GitHub-Event": "pull_request", SIGNATURE_HEADER: Secret(SECRET).sign(raw)})
    assert answer.status_code == 502 and "cannot reach GitHub for kubernetes/kubernetes#1" in answer.json()["error"]


def test_the_secret_never_reaches_the_logs(bot, caplog):
    with caplog.at_level(logging.DEBUG):
        bot.deliver(BUG)
        bot.deliver(BUG, secret="wrong")
    assert caplog.records and SECRET not in caplog.text


def pr_with_note(sample):
    """A PR number of the sample whose body has a release note, and the note."""
    for number in range(1, sample.count + 1):
        note = parse.record(sample.item(number, ""))["release_note"]
        if sample.is_pr[number] and note:
            return number, note
    raise AssertionError("the sample has no PR with a release note")


def expected_labels(predictor, note, before):
    bug = predictor.predict([note])[0] >= predictor.threshold
    return [name for name in before if name != "kind/bug"] + (["kind/bug"] if bug else [])


def test_label_command_reconciles_one_item_and_reruns_write_nothing(emulator, model_dir, predictor):  # noqa: F811
    github = emulator(items=40)
    sample = github.emulator.sample
    number, note = pr_with_note(sample)
    before = sample.labels(number)
    command = ["k8s-analysis", "label", "--repo", REPO, "--number", str(number), "--base-url", github.url,
               "--model-dir", str(model_dir)]
    first = run_cli(*command)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["comment"] == "created"
    assert sorted(sample.labels(number)) == sorted(expected_labels(predictor, note, before))
    github.emulator.reset_stats()
    again = run_cli(*command)
    assert json.loads(again.stdout)["comment"] == "unchanged"
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
    assert outcome["number"] == number and outcome["comment"] == "created"
    assert sorted(sample.labels(number)) == sorted(expected_labels(predictor, note, before))
