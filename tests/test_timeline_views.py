"""The timeline views against numbers computed by hand, on both backends, and without a timeline."""
import calendar
import time

import pytest

from conftest import run_cli
from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis.columns import load
from dffml_k8s_analysis.analysis.views import VIEWS, run_view, table
from dffml_k8s_analysis.records.selection import Filter
from dffml_k8s_analysis.store import open_store
from test_source import REPO, raw


def at(day: str) -> int:
    """``2021-01-02`` or ``2021-01-02T12`` as epoch seconds."""
    return calendar.timegm(time.strptime(day + ("" if "T" in day else "T00"), "%Y-%m-%dT%H"))


def stamp(day: str) -> str:
    return day + "T00:00:00Z"


def merged_pr(item: dict, merged_at) -> dict:
    item["pull_request"]["merged_at"] = merged_at
    return item


# 1 issue alice Jan 1 answered after 2 days; 2 PR bob Jan 10, answered 1 day, reviewed 2 days, merged 8 days after;
# 3 issue carol Feb 1 never answered; 4 PR alice Feb 5 not walked, merged Feb 7 (its raw JSON says);
# 5 PR alice Feb 10 answered 4 days, never reviewed, closed unmerged Feb 20; 6 issue dave Mar 1 answered 1 day;
# 7 issue erin Jun 2020, not walked, never back; 8 PR bob Feb 1 answered 12 hours, reviewed Feb 2, merged Feb 3;
# 9 PR carol Feb 2 never answered, reviewed Feb 4, merged Feb 8.
ITEMS = [
    raw(1, stamp("2021-01-01"), labels=["kind/bug"]),
    merged_pr(raw(2, stamp("2021-01-10"), stamp("2021-01-20"), user="bob", pr=True), stamp("2021-01-20")),
    raw(3, stamp("2021-02-01"), user="carol", labels=["needs-triage"]),
    merged_pr(raw(4, stamp("2021-02-05"), stamp("2021-02-07"), pr=True), stamp("2021-02-07")),
    merged_pr(raw(5, stamp("2021-02-10"), stamp("2021-02-20"), pr=True), None),
    raw(6, stamp("2021-03-01"), user="dave"),
    raw(7, stamp("2020-06-01"), stamp("2020-06-02"), user="erin"),
    merged_pr(raw(8, stamp("2021-02-01"), stamp("2021-02-03"), user="bob", pr=True), stamp("2021-02-03")),
    merged_pr(raw(9, stamp("2021-02-02"), stamp("2021-02-08"), user="carol", pr=True), stamp("2021-02-08")),
]
# number, first response, first review, merged
TIMELINE = [(1, at("2021-01-03"), None, None), (2, at("2021-01-11"), at("2021-01-12"), at("2021-01-20")),
            (3, None, None, None), (5, at("2021-02-14"), None, None), (6, at("2021-03-02"), None, None),
            (8, at("2021-02-01T12"), at("2021-02-02"), at("2021-02-03")),
            (9, None, at("2021-02-04"), at("2021-02-08"))]
# number, day, action, label, actor kind
EVENTS = [(1, "2021-01-01", "labeled", "needs-triage", "bot"), (1, "2021-01-02", "labeled", "kind/bug", "person"),
          (1, "2021-01-05", "unlabeled", "needs-triage", "person"),
          (2, "2021-01-10", "labeled", "kind/feature", "author"), (2, "2021-01-10", "labeled", "sig/node", "bot"),
          (2, "2021-01-11", "unlabeled", "sig/node", "person"),
          (2, "2021-01-15", "labeled", "needs-rebase", "bot"), (2, "2021-01-16", "unlabeled", "needs-rebase", "bot"),
          (3, "2021-02-01", "labeled", "needs-triage", "bot"),
          (5, "2021-02-10", "labeled", "needs-triage", "ghost"), (5, "2021-02-11", "labeled", "kind/bug", "person"),
          (5, "2021-02-12", "labeled", "area/test", "ghost")]


def fill_timeline(store, timeline=TIMELINE, events=EVENTS) -> None:
    """Hand-written timeline rows, as the timeline export would write them."""
    with store.transaction():
        store.executemany("INSERT INTO timeline (number, updated_at, first_response_at, first_review_at, merged_at, "
                          "complete) VALUES (?, ?, ?, ?, ?, 1)", [(n, "2021-03-01T00:00:00Z", *rest) for n, *rest in timeline])
        store.executemany("INSERT INTO label_events (number, seq, at, action, label, actor, actor_kind) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(n, seq, at(day), action, label, None if kind == "ghost" else "someone", kind)
                           for seq, (n, day, action, label, kind) in enumerate(events)])


@pytest.fixture
def walked(store_spec):
    with open_store(store_spec, create=True, repo=REPO) as store:
        store.save_page(ITEMS)
        fill_timeline(store)
    return load(store_spec)[0]


def view(items, name, subset="all", include="", exclude="", count=25, period="month"):
    return run_view(name, items.subset(subset), subset, Filter.of(include, exclude), count, period)


def test_time_to_first_response_per_month_prs_and_issues_apart(walked):
    numbers = view(walked, "time-to-first-response")
    assert numbers["periods"] == ["2021-01", "2021-02", "2021-03"]  # the walked items' creations
    prs, issues = numbers["pull_requests"], numbers["issues"]
    assert prs["answered"] == [1, 2, 0] and prs["unanswered"] == [0, 1, 0]  # #9 never answered
    assert prs["median"] == [1.0, 2.25, None] and prs["p90"] == [1.0, 3.65, None]  # Feb: 0.5 and 4 days
    assert (prs["median_total"], prs["p90_total"]) == (1.0, 3.4)  # [0.5, 1, 4]: rank 1.8 is 1 + 0.8 * 3
    assert issues["answered"] == [1, 0, 1] and issues["unanswered"] == [0, 1, 0] and issues["median"] == [2.0, None, 1.0]
    assert numbers["not_walked"] == 2  # #4 and #7
    assert view(walked, "time-to-first-response", include="^kind/")["pull_requests"]["answered_total"] == 0
    rows = table(numbers)["rows"]
    assert rows[1] == ["2021-02", 2, "2.2", "3.6", 1, 0, "-", "-", 1]


def test_review_latency_created_to_review_to_merge(walked):
    numbers = view(walked, "review-latency")
    assert numbers["periods"] == ["2021-01", "2021-02"]  # walked PRs: #2 in January, #5 #8 #9 in February
    review, merge = numbers["to_first_review"], numbers["to_merge"]
    assert review["counted"] == [1, 2] and review["median"] == [2.0, 1.5]  # #2: 2 days; #8: 1, #9: 2
    assert merge["counted"] == [1, 2] and merge["median"] == [8.0, 2.5]  # #2: 8 days; #8: 1, #9: 4
    assert numbers["unreviewed"] == [0, 1] and numbers["unreviewed_total"] == 1  # #5
    assert view(walked, "review-latency", subset="issues")["items"] == 0


def test_label_provenance_shares_per_group_and_month(walked):
    numbers = view(walked, "label-provenance")
    assert numbers["periods"] == ["2021-01", "2021-02"] and (numbers["applied"], numbers["items"]) == (5, 3)
    kind, sig, area = (numbers["groups"][group] for group in ("kind", "sig", "area"))
    assert kind["applied"] == [2, 1] and kind["author"] == [1, 0] and kind["person"] == [1, 1]
    assert kind["share"]["author"] == [0.5, 0.0] and kind["share_total"]["person"] == 0.667
    assert sig["bot"] == [1, 0] and sig["share"]["bot"] == [1.0, None]  # the unlabeled event is not counted
    assert area["ghost"] == [0, 1] and area["share_total"]["ghost"] == 1.0
    assert view(walked, "label-provenance", include="^sig/")["applied"] == 1
    assert table(numbers)["rows"][0] == ["kind/", 3, "33%", "67%", "0%", "0%"]


def test_time_in_label_until_unlabeled_closed_or_the_last_activity(walked):
    numbers = view(walked, "time-in-label")
    assert numbers["now"] == at("2021-03-01")  # #6's creation: the newest creation or close
    # needs-triage: #1 4 days (unlabeled), #5 10 days (still on at its close), #3 28 days (still on, open)
    assert numbers["labels"] == [["needs-triage", 3, 2, 10.0, 24.4], ["needs-rebase", 1, 0, 1.0, 1.0]]
    kinds = view(walked, "time-in-label", include="^kind/")  # #1 58 days (open), #5 9 days; #2 10 days
    assert kinds["labels"] == [["kind/bug", 2, 2, 33.5, 53.1], ["kind/feature", 1, 1, 10.0, 10.0]]
    assert view(walked, "time-in-label", exclude="rebase")["distinct"] == 1


def test_new_contributors_and_who_came_back_within_90_days(walked):
    numbers = view(walked, "new-contributors")
    assert numbers["periods"][0] == "2020-06" and numbers["periods"][-3:] == ["2021-01", "2021-02", "2021-03"]
    assert numbers["new"][0] == 1 and numbers["new"][-3:] == [2, 1, 1]  # erin; alice, bob; carol; dave
    assert numbers["returned"][-3:] == [2, 1, 0]  # alice on 5 Feb, bob on 1 Feb (#8); carol the next day (#9)
    assert numbers["pending"][0] == 0 and numbers["pending"][-3:] == [0, 0, 1]  # dave's 90 days end after 1 March
    assert view(walked, "new-contributors", exclude="bob|carol")["returned_total"] == 1


def test_absence_factor_from_the_timeline_else_the_raw_merge(walked):
    numbers = view(walked, "absence-factor")
    assert numbers["periods"] == ["2021-01", "2021-02"]
    assert numbers["merged"] == [1, 3] and numbers["authors"] == [1, 3] and numbers["factor"] == [1, 2]
    assert (numbers["items"], numbers["walked"], numbers["unknown"]) == (4, 3, 0)  # #4's merge from its raw JSON
    assert view(walked, "absence-factor", exclude="carol")["factor"] == [1, 1]


def test_a_store_without_a_timeline_says_what_to_run(tmp_path):
    path = tmp_path / "plain.sqlite"
    with open_store(path, create=True) as store:
        store.save_page(ITEMS)
    items = load(path)[0]
    for name in ("time-to-first-response", "review-latency", "label-provenance", "time-in-label"):
        numbers = view(items, name)
        assert numbers["missing"] == "no timeline in this store: run k8s-analysis export --timeline", name
        assert table(numbers) == {"columns": [], "rows": [], "note": numbers["missing"]}
    assert view(items, "absence-factor")["merged"] == [1, 3]  # every merge from the raw JSON
    result = run_cli("k8s-analysis", "analyze", "--store", str(path), "--out", str(tmp_path / "out"), "--review-latency")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["k8s-analysis: error: no timeline in this store: run k8s-analysis export --timeline"]
    every = run_cli("k8s-analysis", "analyze", "--store", str(path), "--out", str(tmp_path / "out"), "--report")
    assert every.returncode == 0, every.stderr
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("no timeline in this store") == 4 and "Contributor absence factor" in page


def test_every_timeline_view_is_registered_with_a_flag():
    for name in ("time-to-first-response", "review-latency", "label-provenance", "time-in-label",
                 "new-contributors", "absence-factor"):
        assert name in VIEWS


def test_a_large_store_is_read_view_by_view_with_the_same_numbers(tmp_path, monkeypatch):
    from operations import analyze

    path = tmp_path / "w.sqlite"
    with open_store(path, create=True) as store:
        store.save_page(ITEMS)
        fill_timeline(store)
    once = flows.run_analyze(str(path), list(VIEWS), out=str(tmp_path / "once"))
    monkeypatch.setattr(analyze, "ONCE", 5)  # 9 items: more than a store read once may hold
    each = flows.run_analyze(str(path), list(VIEWS), out=str(tmp_path / "each"))
    drop = ("files",)
    assert [{k: v for k, v in view.items() if k not in drop} for view in each["views"]] == [
        {k: v for k, v in view.items() if k not in drop} for view in once["views"]]
    assert each["loaded"] == once["loaded"] and len(each["views"]) == len(VIEWS)
