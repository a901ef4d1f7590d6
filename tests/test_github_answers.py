"""The bot's PyGithub calls against answers GitHub would never send: each is one line naming the request.

A real server on 127.0.0.1 (tests/hostile.py) answers every call the bot makes as GitHub does, but one,
which gets a list for an object, an object for a list, a string, null, or a field the bot reads missing
or of another type. The bot, ``label`` and ``bot report`` read them through PyGithub, which builds its
objects from whatever JSON comes.
"""
import json
import urllib.parse

import pytest

from dffml_k8s_analysis.bot import reconcile, sweep
from dffml_k8s_analysis.bot.rules import MARKER
from dffml_k8s_analysis.github.errors import GitHubError

from conftest import REPO, run_in_process
from hostile import serving

ITEM = f"/repos/{REPO}/issues/1"
COMMENT = f"/repos/{REPO}/issues/comments/5"
PREDICTION = {"note": "Fixed a panic.", "label": "kind/bug", "probability": 0.9, "threshold": 0.5, "act": 0.8,
              "band": "act", "words": []}


def github(base, comments=True):
    """(method, path) -> GitHub's answer, for the calls of one reconcile and one sweep."""
    comment = {"id": 5, "body": f"{MARKER} old", "user": {"login": "bot"}, "url": base + COMMENT}
    return {("GET", "/user"): {"login": "bot"},
            ("GET", ITEM): {"number": 1, "state": "open", "body": "x", "labels": [], "url": base + ITEM},
            ("GET", ITEM + "/events"): [{"event": "labeled", "label": {"name": "sig/node"}, "actor": {"login": "a"}}],
            ("GET", ITEM + "/comments"): [comment] if comments else [],
            ("GET", f"/repos/{REPO}/labels/kind%2Fbug"): {"name": "kind/bug", "color": "ee0701"},
            ("POST", ITEM + "/labels"): [{"name": "kind/bug"}],
            ("POST", ITEM + "/comments"): comment,
            ("PATCH", COMMENT): comment,
            ("GET", f"/repos/{REPO}/issues"): [{"number": 1, "updated_at": "2020-01-01T00:00:00Z"}]}


def answering(wrong_route, wrong_answer, comments=True):
    def answer(handler):
        route = (handler.command, urllib.parse.urlsplit(handler.path).path)
        data = wrong_answer if route == wrong_route else github(handler.server.url, comments).get(route)
        handler.server.calls.append(route)
        if route not in github(handler.server.url):
            return handler.send(404, json.dumps({"message": "Not Found"}).encode())
        handler.send(200, json.dumps(data).encode(), Content_Type="application/json")
    return answer


LABEL = {"name": "kind/bug", "color": "ee0701"}
ISSUE = {"number": 1, "body": "x", "labels": [{"name": "sig/node"}]}
CASES = {  # route -> {case: (the answer, what is wrong with it)}
    ("GET", "/user"): {"a string": ("bot", "the answer is a string ('bot'), where GitHub sends an object"),
                       "no login": ({}, "login is missing, where GitHub sends a string"),
                       "a number login": ({"login": 7}, "login is a number (7), where GitHub sends a string")},
    ("GET", ITEM): {"a list": ([ISSUE], "the answer is a list, where GitHub sends an object"),
                    "null": (None, "the answer is null, where GitHub sends an object"),
                    "no labels": ({"body": "x"}, "labels is missing, where GitHub sends a list"),
                    "labels an object": (dict(ISSUE, labels={"name": "a"}),
                                         "labels is an object, where GitHub sends a list"),
                    "a label's name a number": (dict(ISSUE, labels=[{"name": 3}]),
                                                "labels[0].name is a number (3), where GitHub sends a string"),
                    "a body not a string": (dict(ISSUE, body=["x"]),
                                            "body is a list, where GitHub sends a string or null"),
                    "a url not a string": (dict(ISSUE, url=5), "url is a number (5), where GitHub sends a string")},
    ("GET", ITEM + "/events"): {
        "an object": ({"event": "labeled"}, "the answer is an object, where GitHub sends a list"),
        "a string": ("[]", "the answer is a string ('[]'), where GitHub sends a list"),
        "an event not a string": ([{"event": 3}], "[0].event is a number (3), where GitHub sends a string"),
        "a label's name missing": ([{"event": "labeled", "label": {}}],
                                   "[0].label.name is missing, where GitHub sends a string"),
        "an actor's login null": ([{"event": "labeled", "actor": {"login": None}}],
                                  "[0].actor.login is null, where GitHub sends a string")},
    ("GET", ITEM + "/comments"): {
        "null": (None, "the answer is null, where GitHub sends a list"),
        "a user's login a number": ([{"body": MARKER, "user": {"login": 5}, "url": "x"}],
                                    "[0].user.login is a number (5), where GitHub sends a string"),
        "no url": ([{"body": MARKER, "user": None}], "[0].url is missing, where GitHub sends a string")},
    ("GET", f"/repos/{REPO}/labels/kind%2Fbug"): {
        "a list": ([LABEL], "the answer is a list, where GitHub sends an object"),
        "no color": ({"name": "kind/bug"}, "color is missing, where GitHub sends a string")},
    ("PATCH", COMMENT): {"a list": ([], "the answer is a list, where GitHub sends an object"),
                         "a string": ("ok", "the answer is a string ('ok'), where GitHub sends an object")},
    ("POST", ITEM + "/comments"): {"null": (None, "the answer is null, where GitHub sends an object")},
    ("GET", f"/repos/{REPO}/issues"): {
        "an object": ({"number": 1}, "the answer is an object, where GitHub sends a list"),
        "a string number": ([{"number": "1", "updated_at": "2020-01-01T00:00:00Z"}],
                            "[0].number is a string ('1'), where GitHub sends a whole number from 1 to 2147483647"),
        "a negative number": ([{"number": -1, "updated_at": "2020-01-01T00:00:00Z"}],
                              "[0].number is a number (-1), where GitHub sends a whole number from 1 to 2147483647"),
        "a number past 32 bits": ([{"number": 2**40, "updated_at": "2020-01-01T00:00:00Z"}],
                                  "[0].number is a number (1099511627776), where GitHub sends a whole number from 1 to "
                                  "2147483647"),
        "an updated_at not a time": ([{"number": 1, "updated_at": "soon"}],
                                     "[0].updated_at is a string ('soon'), where GitHub sends a time like "
                                     "2024-01-31T12:00:00Z")},
}


@pytest.mark.parametrize("route,case", [(route, case) for route, cases in CASES.items() for case in cases],
                         ids=lambda value: value if isinstance(value, str) else " ".join(value))
def test_an_answer_github_would_not_send_is_one_line_naming_the_request_and_nothing_follows(route, case):
    answer, wrong = CASES[route][case]
    with serving(answering(route, answer, comments=route != ("POST", ITEM + "/comments"))) as server:
        server.calls = []
        with pytest.raises(GitHubError) as refused:
            if route[1] == f"/repos/{REPO}/issues":
                sweep.updated_since(server.url, REPO, "2020-01-01T00:00:00Z")
            else:
                reconcile.reconcile(server.url, REPO, 1, PREDICTION)
    assert (str(refused.value), refused.value.transient) == (
        f"{server.url}'s answer to {route[0]} {route[1]} is not GitHub's: {wrong}", False)
    assert server.calls[-1] == route  # the bot went no further: no write after a read it could not use


def test_the_well_formed_answers_of_the_fake_github_reconcile(monkeypatch):
    """The fake above is GitHub enough: with no answer wrong, the reconcile adds the label and edits its comment."""
    with serving(answering(None, None)) as server:
        server.calls = []
        outcome = reconcile.reconcile(server.url, REPO, 1, PREDICTION)
        assert sweep.updated_since(server.url, REPO, "2020-01-01T00:00:00Z") == [(1, "2020-01-01T00:00:00Z")]
    assert (outcome["label"], outcome["comment"]) == ("added", "edited")
    assert set(server.calls) == set(github(server.url)) - {("POST", ITEM + "/comments")}


def test_label_given_a_list_for_its_item_is_one_line_exit_1(model_dir):
    with serving(answering(("GET", ITEM), [ISSUE])) as server:
        server.calls = []
        result = run_in_process("label", "--repo", REPO, "--number", "1", "--base-url", server.url,
                                "--model-dir", str(model_dir))
    assert (result.returncode, result.stderr) == (1, (
        f"k8s-analysis: error: {server.url}'s answer to GET {ITEM} is not GitHub's: the answer is a list, where "
        "GitHub sends an object\n"))


def test_the_bots_requests_in_one_thread_share_a_connection():
    with serving(answering(None, None), keep_alive=True) as server:
        server.calls = []
        reconcile.reconcile(server.url, REPO, 1, PREDICTION)
        reconcile.reconcile(server.url, REPO, 1, PREDICTION)
    assert len(server.calls) >= 12 and server.connections == 1


def test_a_delivery_whose_item_github_answers_with_a_list_fails_in_one_line(model_dir, tmp_path, caplog):
    import requests

    from dffml_k8s_analysis.bot.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Secret
    from dffml_k8s_analysis.serve.deliveries import settled
    from dffml_k8s_analysis.serve.service import ServeConfig, running

    from test_label import BUG, SECRET, payload

    raw = json.dumps(payload(BUG)).encode()
    with serving(answering(("GET", ITEM), [ISSUE])) as server:
        server.calls = []
        config = ServeConfig(str(model_dir), base_url=server.url, secret=Secret(SECRET),
                             state=str(tmp_path / "bot.sqlite"), retry_backoff_s=0.05)
        with running(config) as url:
            answer = requests.post(url + "/webhook", data=raw, headers={
                "X-GitHub-Event": "pull_request", SIGNATURE_HEADER: Secret(SECRET).sign(raw), DELIVERY_HEADER: "d-1"})
            assert answer.status_code == 202
            found = settled(url, "d-1")
    line = (f"{server.url}'s answer to GET {ITEM} is not GitHub's: the answer is a list, where GitHub sends an object")
    assert (found["state"], found["outcome"]["error"]) == ("failed", line)
    logged = [record.getMessage() for record in caplog.records if line in record.getMessage()]
    assert logged and all("\n" not in message for message in logged), logged  # in one line
    assert not any(record.exc_info for record in caplog.records)
