"""The bot's provenance rules, bands, modes and SIG suggestions against the emulator, with two identities:
the bot's token and a person's. Predictions are given (the model's own bands are test_label's)."""
import json
import time

import pytest
import requests

from dffml_k8s_analysis.bot import reconcile
from dffml_k8s_analysis.bot.reconcile import MARKER
from dffml_k8s_analysis.store import open_store

from conftest import BUG, REPO, run_cli

BOT, PERSON = "k8s-release-bot[bot]", "alice"
MUTATING = {"labels_add", "labels_set", "label_remove", "comment_create", "comment_edit", "comment_delete"}
# the top SIG: one the sample never sets (so no person removed it)
SIGS = {"sigs": [{"sig": "sig/contributor-experience", "probability": 0.81}, {"sig": "sig/storage", "probability": 0.4}],
        "confident": True}


def prediction(band="act", probability=None, **more):
    probability = probability if probability is not None else {"act": 0.95, "suggest": 0.6, "none": 0.1}[band]
    return dict({"note": BUG, "label": "kind/bug", "probability": probability, "threshold": 0.5, "act": 0.9,
                 "band": band, "words": ["fixed panic", "panic"]}, **more)


class Item:
    """One PR of the emulator, the bot's token in GITHUB_TOKEN and a person who labels through the API."""

    def __init__(self, github, labels):
        self.github, self.sample = github, github.emulator.sample
        self.number = next(n for n in range(1, self.sample.count + 1) if self.sample.is_pr[n])
        self.sample.set_labels(self.number, labels, time.time())  # labels from before the events: a person's
        self.url = f"{github.url}/repos/{REPO}/issues/{self.number}"

    def person(self, method, path, **json):
        answer = requests.request(method, self.url + path, json=json or None,
                                  headers={"Authorization": "token person-token"})
        assert answer.ok, answer.text

    def person_adds(self, label):
        self.person("POST", "/labels", labels=[label])

    def person_removes(self, label):
        self.person("DELETE", "/labels/" + label)

    def bot(self, band="act", mode="act", apply_sigs=False, **more):
        self.github.emulator.reset_stats()
        return reconcile.reconcile(self.github.url, REPO, self.number, prediction(band, **more), mode, apply_sigs)

    def labels(self):
        return self.sample.labels(self.number)

    def comments(self):
        found = [self.sample.comment(cid, "") for cid in self.sample.comment_ids(self.number)]
        return [c["body"] for c in found if MARKER in c["body"]]

    def writes(self):
        return {r: n for r, n in self.github.emulator.stats["by_route"].items() if r in MUTATING}

    def github_requests(self, route):
        return self.github.emulator.stats["by_route"].get(route, 0)


@pytest.fixture
def item(emulator, monkeypatch):
    github = emulator(items=40, users={"bot-token": BOT, "person-token": PERSON})
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    return lambda labels=("sig/node", "size/S"): Item(github, list(labels))


def test_the_act_band_adds_the_label_with_one_comment_that_explains_and_says_how_to_overrule(item):
    pr = item()
    assert pr.bot()["label"] == "added"
    assert pr.labels()[-1] == "kind/bug" and pr.sample.label_events(pr.number)[-1]["actor"] == BOT
    [body] = pr.comments()
    assert "Added `kind/bug`: probability 0.95" in body and "`fixed panic`, `panic`" in body
    assert "Remove `kind/bug`: this bot will not add it again" in body
    replay = pr.bot()
    assert replay["label"] == "kept" and replay["comment"] == "unchanged" and pr.writes() == {}
    assert pr.github_requests("events_list") == 1  # provenance: one page of events


def test_it_never_adds_a_label_a_person_removed_until_a_person_adds_it_back(item):
    pr = item()
    pr.bot()
    pr.person_removes("kind/bug")
    outcome = pr.bot()
    assert outcome["label"] == "left to a person" and outcome["why"] == "a person removed kind/bug"
    assert "kind/bug" not in pr.labels() and pr.comments() == []  # its comment went with its label
    for band in ("act", "suggest"):
        assert pr.bot(band)["decision"] == "none" and pr.writes() == {}
    pr.person_adds("kind/bug")
    pr.person_removes("kind/bug")
    pr.person_adds("kind/bug")
    assert pr.bot("none")["label"] == "left to a person"  # now the person's label: below the band, kept
    assert "kind/bug" in pr.labels() and pr.writes() == {}


def test_it_never_removes_a_label_it_did_not_add(item):
    pr = item(["sig/node", "kind/bug"])  # set before any event was kept: a person's
    assert pr.bot("none")["label"] == "left to a person"
    pr.person_removes("kind/bug")
    pr.person_adds("kind/bug")
    assert pr.bot("none")["label"] == "left to a person"
    assert "kind/bug" in pr.labels() and pr.writes() == {} and pr.comments() == []


def test_it_removes_its_own_label_below_the_act_band_and_says_so(item):
    pr = item()
    pr.bot()
    removed = pr.bot("none")
    assert removed["label"] == "removed" and removed["comment"] == "edited"
    assert "kind/bug" not in pr.labels()
    [body] = pr.comments()
    assert "Removed `kind/bug`, which this bot had added" in body
    assert pr.bot("none")["comment"] == "unchanged" and pr.writes() == {}  # a replay writes nothing
    assert pr.bot()["label"] == "added"  # its own removal is not a person's: the act band adds it again


@pytest.mark.parametrize("kind", ["kind/feature", "kind/cleanup"])
def test_where_a_person_chose_a_kind_it_adds_no_bug_and_at_most_suggests(item, kind):
    pr = item(["sig/node"])
    pr.person_adds(kind)
    strong = pr.bot("act")
    assert strong["label"] == "left to a person" and strong["decision"] == "suggest"
    assert pr.labels() == ["sig/node", kind]
    [body] = pr.comments()
    assert "Suggestion: `kind/bug`? probability 0.95" in body and "adds no label here" in body
    middle = pr.bot("suggest")
    assert middle["decision"] == "none" and middle["comment"] == "deleted" and pr.comments() == []


def test_the_suggest_band_comments_without_a_label_and_the_silent_band_says_nothing(item):
    pr = item()
    suggested = pr.bot("suggest")
    assert suggested["label"] == "not added" and suggested["comment"] == "created"
    assert "kind/bug" not in pr.labels() and "Suggestion: `kind/bug`? probability 0.60" in pr.comments()[0]
    silent = pr.bot("none")
    assert silent["comment"] == "deleted" and pr.comments() == []
    assert pr.bot("none")["comment"] == "none" and pr.writes() == {}


def test_a_person_labeling_updates_the_bots_comment_at_once(item):
    pr = item()
    pr.bot("suggest")
    pr.person_adds("kind/bug")  # the person took the suggestion: nothing left to suggest
    assert pr.bot("suggest")["comment"] == "deleted" and pr.comments() == []


def test_suggest_mode_writes_no_label(item):
    pr = item()
    outcome = pr.bot("act", "suggest")
    assert outcome["decision"] == "suggest" and "kind/bug" not in pr.labels()
    assert pr.writes() == {"comment_create": 1}


def test_shadow_mode_writes_nothing_and_says_what_it_would_do(item):
    pr = item()
    outcome = pr.bot("act", "shadow")
    assert outcome["decision"] == "add" and outcome["would"] == {"add": ["kind/bug"], "remove": [], "comment": "added"}
    assert pr.writes() == {} and pr.github_requests("comments_list") == 0 and pr.comments() == []
    pr.person_removes("sig/node")
    assert pr.bot("suggest", "shadow")["would"] == {"add": [], "remove": [], "comment": "suggested"}
    assert pr.writes() == {}


def test_sigs_are_suggested_for_items_without_one_and_applied_only_when_asked(item, monkeypatch):
    monkeypatch.setattr(reconcile, "_REPO_LABELS", {})
    pr = item(["needs-sig", "size/S"])
    outcome = pr.bot("none", sigs=SIGS)
    assert outcome["sigs"] == ["sig/contributor-experience", "sig/storage"] and not any(n.startswith("sig/") for n in pr.labels())
    [body] = pr.comments()
    assert "SIGs that may own this" in body and "`sig/contributor-experience` (0.81)" in body and "kind/bug" not in body
    assert pr.bot("none", sigs=dict(SIGS, confident=False))["comment"] == "deleted"
    missing = pr.bot("none", sigs=SIGS, apply_sigs=True)  # not a label of the repository yet: never created
    assert missing["why"].endswith(f"; sig/contributor-experience is not a label of {REPO}: not created")
    assert not any(n.startswith("sig/") for n in pr.labels()) and "SIGs that may own this" in pr.comments()[0]
    other = 2 if pr.number == 1 else 1  # another item: a person's label there makes it the repository's
    pr.sample.set_labels(other, pr.sample.labels(other) + ["sig/contributor-experience"], time.time(), PERSON)
    monkeypatch.setattr(reconcile, "_REPO_LABELS", {})  # as after LABELS_TTL_S
    applied = pr.bot("none", sigs=SIGS, apply_sigs=True)
    assert "sig/contributor-experience" in pr.labels() and applied["decision"] == "none"
    assert "Added `sig/contributor-experience`" in pr.comments()[0]
    pr.person_removes("sig/contributor-experience")
    assert pr.bot("none", sigs=SIGS, apply_sigs=True)["comment"] == "edited"  # back to a suggestion only
    assert "sig/contributor-experience" not in pr.labels()


def test_an_item_with_a_sig_gets_no_sig_suggestion(item):
    pr = item(["sig/storage"])
    assert pr.bot("none", sigs=SIGS)["comment"] == "none" and pr.writes() == {}


def test_events_of_deleted_accounts_are_a_persons(item):
    pr = item([])
    pr.sample.set_labels(pr.number, ["kind/bug"], time.time(), None)  # ghost
    assert pr.bot("none")["label"] == "left to a person" and "kind/bug" in pr.labels()


def test_provenance_reads_at_most_two_pages_and_writes_no_label_beyond(item):
    pr = item([])
    for i in range(110):  # 220 events: more than two pages
        pr.sample.set_labels(pr.number, [f"area/x{i}"], time.time(), PERSON)
    pr.github.emulator.reset_stats()
    outcome = pr.bot("act")
    assert pr.github_requests("events_list") == 2
    assert outcome["decision"] == "suggest" and "kind/bug" not in pr.labels()


def test_shadow_decisions_against_what_people_did_later(item, tmp_path):
    """Shadow mode on the emulator: the bot's would-be decisions, then people label, then the report."""
    from dffml_k8s_analysis.bot.state import decision_row

    pr = item()
    github, sample, state = pr.github, pr.sample, str(tmp_path / "bot.sqlite")
    numbers = [n for n in range(1, sample.count + 1) if sample.is_pr[n] and "kind/bug" not in sample.labels(n)][:6]
    bands = ["act", "act", "act", "none", "none", "suggest"]
    with open_store(state, create=True) as db:
        for number, band in zip(numbers, bands):
            sample.set_labels(number, ["sig/node"], time.time())
            pr.number, pr.url = number, f"{github.url}/repos/{REPO}/issues/{number}"
            db.bot.record_decision(*decision_row(pr.bot(band, "shadow")))
    assert sum(sample.label_events(n)[-1]["actor"] == BOT for n in numbers if sample.label_events(n)) == 0
    people = {numbers[0]: "kind/bug", numbers[1]: "kind/bug", numbers[2]: "kind/feature",  # 2 matches, 1 wrong
              numbers[3]: "kind/cleanup", numbers[4]: "kind/bug", numbers[5]: "kind/bug"}  # 1 match, 1 miss, taken
    for number, label in people.items():
        pr.number, pr.url = number, f"{github.url}/repos/{REPO}/issues/{number}"
        pr.person_adds(label)
    result = run_cli("k8s-analysis", "bot", "report", "--state", state, "--base-url", github.url, "--json",
                     env={"GITHUB_TOKEN": "bot-token"})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures == {"label": "kind/bug", "decisions": 6, "judged": 5, "matches": 3, "mismatches": 1, "misses": 1,
                       "suggested": 1, "suggestions_taken": 1, "undecided": 0, "match_share": 0.6,
                       "mismatch_share": 0.2, "gate_passed": False, "own_writes_skipped": 0,
                       "skipped": 0}
    shown = run_cli("k8s-analysis", "bot", "report", "--state", state, "--base-url", github.url,
                    env={"GITHUB_TOKEN": "bot-token"}).stdout
    assert "6 shadow decisions; 5 judged by people" in shown and "would-be wrong labels 1 (20%)" in shown


@pytest.mark.parametrize("renamed", ["kind/bug-fix", None])
def test_its_label_renamed_or_deleted_on_the_repository_is_one_line_and_nothing_written(item, renamed):
    pr = item()
    pr.bot()
    pr.sample.rename_label("kind/bug", renamed, time.time())
    outcome = pr.bot()
    assert outcome["why"] == "kind/bug was renamed or deleted on the repository: nothing written"
    assert "kind/bug" not in pr.labels() and pr.writes() == {} and len(pr.comments()) == 1


@pytest.mark.parametrize("mode", ["act", "shadow"])
def test_a_label_missing_on_the_repository_is_never_created_the_decision_is_skipped_and_reported(item, tmp_path,
                                                                                                 monkeypatch, mode):
    from dffml_k8s_analysis.bot.state import decision_row

    monkeypatch.setattr(reconcile, "_REPO_LABELS", {})  # what earlier tests' emulators had, on the same port maybe
    pr = item()
    pr.sample.rename_label("kind/bug", None, time.time())  # deleted on the repository: GitHub would create it again
    outcome = pr.bot(mode=mode)
    assert (outcome["decision"], outcome["why"]) == ("skipped", f"kind/bug is not a label of {REPO}: not created")
    assert "kind/bug" not in pr.labels() and not pr.sample.has_label("kind/bug") and pr.writes() == {}
    assert pr.comments() == [] and pr.github_requests("label") == 1
    state = str(tmp_path / "bot.sqlite")
    with open_store(state, create=True) as db:
        db.bot.record_decision(*decision_row(outcome))
    assert pr.bot(mode=mode)["decision"] == "skipped" and pr.github_requests("label") == 0  # known: not asked again
    result = run_cli("k8s-analysis", "bot", "report", "--state", state, "--base-url", pr.github.url, "--mode", mode,
                     env={"GITHUB_TOKEN": "bot-token"})
    assert result.returncode == 0, result.stderr
    assert "skipped as kind/bug is missing on the repository (it is never created): 1" in result.stdout
    pr.sample.set_labels(2 if pr.number == 1 else 1, ["kind/bug"], time.time(), PERSON)  # elsewhere: made again
    monkeypatch.setattr(reconcile, "_REPO_LABELS", {})  # as after LABELS_TTL_S
    assert pr.bot(mode=mode)["decision"] == "add"


def test_a_report_with_no_decisions_is_one_line_and_makes_no_store(tmp_path):
    missing, empty = tmp_path / "missing.sqlite", tmp_path / "empty.sqlite"
    open_store(str(empty), create=True).close()
    for state in (missing, empty):
        result = run_cli("k8s-analysis", "bot", "report", "--state", str(state), "--base-url", "http://127.0.0.1:9")
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (f"k8s-analysis: error: no shadow decisions of the bot on {REPO} in {state}: "
                                 "`k8s-analysis serve --mode shadow` records them\n")
    assert not missing.exists()
