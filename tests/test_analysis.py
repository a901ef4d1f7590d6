"""Analysis views against hand-computed numbers, charts, the analyze dataflow and CLI."""
import json
import xml.etree.ElementTree as ElementTree

import matplotlib.image
import pytest
import yaml

from conftest import ROOT, run_cli
from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis.charts import render
from dffml_k8s_analysis.analysis.views import VIEWS, run_view
from dffml_k8s_analysis.records.issues_source import read_records
from dffml_k8s_analysis.records.selection import Filter, select
from test_source import make_store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "k.sqlite")


@pytest.fixture
def records(store):
    return read_records(store)[0]


def numbers(records, name, subset="all", include="", exclude="", count=25, period="month"):
    return run_view(name, select(records, subset), subset, Filter.of(include, exclude), count, period)


# The fixture by hand: created #1 #2 in Jan 2020, #3 Feb, #4 #5 Mar, #6 Apr; closed #2 Jan, #1 Feb, #4 Mar, #6 Apr.


def test_created_closed_and_open_per_month(records):
    created = numbers(records, "created")
    assert created["periods"] == ["2020-01", "2020-02", "2020-03", "2020-04"]
    assert created["created"] == [2, 1, 2, 1] and created["cumulative"] == [2, 3, 5, 6]
    closed = numbers(records, "closed")
    assert closed["closed"] == [1, 1, 1, 1] and closed["closed_total"] == 4
    both = numbers(records, "created-vs-closed")
    assert both["created"] == [2, 1, 2, 1] and both["closed"] == [1, 1, 1, 1] and both["open"] == [1, 1, 2, 2]
    assert both["title"] == "Created vs closed issues and PRs per month"


def test_periods_fill_gaps_and_weeks_start_on_monday(records):
    issues = numbers(records, "created-vs-closed", subset="issues")
    assert issues["periods"] == ["2020-01", "2020-02", "2020-03"]
    assert (issues["created"], issues["closed"], issues["open"]) == ([1, 0, 1], [0, 1, 0], [1, 0, 1])
    assert numbers(records, "created", subset="pull_requests")["created"] == [1, 1, 1, 1]
    assert numbers(records, "created", period="year")["created"] == [6]
    weeks = numbers(records, "created", subset="issues", period="week")
    assert weeks["periods"][0] == "2019-12-30" and weeks["periods"][-1] == "2020-03-30"  # #5: Tuesday 31 March
    assert len(weeks["periods"]) == 14 and sum(weeks["created"]) == 2
    assert numbers(records, "created", include="^kind/bug$")["created"] == [2]


def test_labels_by_name_and_group(records):
    by_name = numbers(records, "labels-by-name", count=3)
    assert by_name["top"] == [["kind/bug", 2], ["kind/feature", 2], ["sig/node", 2]]  # ties by name
    assert (by_name["distinct"], by_name["total"]) == (8, 11)
    assert numbers(records, "labels-by-name", include="^sig/")["top"] == [["sig/node", 2], ["sig/apps", 1]]
    assert numbers(records, "labels-by-group")["top"] == [["kind", 5], ["sig", 3], ["area", 1]]
    assert numbers(records, "labels-by-group", exclude="kind")["top"] == [["sig", 3], ["area", 1]]
    assert numbers(records, "labels-by-name", subset="issues")["top"] == [["kind/bug", 1], ["sig/node", 1]]


def test_users_by_created_and_closed(records):
    created = numbers(records, "users-by-created")
    assert created["top"] == [["alice", 3], ["bob", 1], ["carol", 1]] and created["unknown"] == 1
    assert numbers(records, "users-by-created", include="^a")["top"] == [["alice", 3]]
    closed = numbers(records, "users-by-closed")
    assert closed["top"] == [["alice", 1], ["bob", 1], ["carol", 1]]
    assert (closed["items"], closed["unknown"]) == (4, 1)  # #4's closer is unknown
    assert numbers(records, "users-by-closed", subset="pull_requests", count=1)["top"] == [["alice", 1]]


def test_release_notes_stats(records):
    stats = numbers(records, "release-notes-stats")
    assert stats["top"] == [["kind/bug", 1], ["kind/cleanup", 1], ["kind/feature", 1]]
    assert (stats["items"], stats["pull_requests"], stats["action_required"], stats["without_kind"]) == (3, 4, 1, 0)
    assert numbers(records, "release-notes-stats", exclude="bug")["top"] == [["kind/cleanup", 1], ["kind/feature", 1]]
    assert numbers(records, "release-notes-stats", subset="issues")["items"] == 0


def test_bad_arguments_are_named(records):
    with pytest.raises(ValueError, match="exclude regex '\\(' is invalid"):
        Filter.of("", "(")
    with pytest.raises(ValueError, match="unknown view 'nope'"):
        run_view("nope", records)
    with pytest.raises(ValueError, match="count must be at least 1"):
        run_view("labels-by-name", records, count=0)
    with pytest.raises(ValueError, match="period must be one of"):
        run_view("created", records, period="day")


@pytest.mark.parametrize("name", ["created-vs-closed", "labels-by-name"])
def test_charts_are_valid_images_with_the_title(records, tmp_path, name):
    view = numbers(records, name)
    files = render(view, str(tmp_path / "charts"))
    png = open(files["png"], "rb").read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and f"Title\x00{view['title']}".encode() in png
    height, width, _ = matplotlib.image.imread(files["png"]).shape
    assert width == 1000 and height > 250
    svg = ElementTree.parse(files["svg"]).getroot()
    assert svg.tag.endswith("svg")
    assert view["title"] in "".join(svg.itertext())
    assert json.loads(open(files["json"]).read()) == view
    assert sorted(path.name for path in (tmp_path / "charts").iterdir()) == sorted(
        f"{name}-all.{kind}" for kind in ("json", "png", "svg"))  # no temporary files left


def test_empty_views_still_chart(tmp_path):
    for name in ("created", "users-by-closed"):
        files = render(run_view(name, []), str(tmp_path))
        assert "no data" in open(files["svg"]).read()


def test_run_analyze_reports_malformed_and_writes_every_view(store, records, tmp_path):
    result = flows.run_analyze(store, ["all"], subset="pull_requests", count=2, out=str(tmp_path))
    assert result["loaded"]["malformed"] == 2 and result["loaded"]["selected"] == 4
    assert [view["view"] for view in result["views"]] == list(VIEWS)
    for view in result["views"]:
        files = view.pop("files")
        assert view == numbers(records, view["view"], subset="pull_requests", count=2)
        assert json.loads(open(files["json"]).read()) == view


def test_analyze_yaml_matches_its_python_definition():
    result = run_cli("dffml", "service", "dev", "export", "dffml_k8s_analysis.flows:ANALYZE", "-configloader", "yaml")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == yaml.safe_load((ROOT / "dataflows" / "analyze.yaml").read_text())


def test_dffml_cli_runs_the_analyze_dataflow(store, records, tmp_path):
    inputs = [f"{store}=analyze.store", "users-by-closed,labels-by-group=analyze.views", "issues=analyze.subset",
              "1=analyze.count", f"{tmp_path}=analyze.out"]
    result = run_cli("dffml", "dataflow", "run", "single", "-dataflow", "dataflows/analyze.yaml", "-inputs", *inputs)
    assert result.returncode == 0, result.stderr
    [output] = json.loads(result.stdout)
    assert output["analyze.loaded"][0]["malformed"] == 2
    views = {view.pop("view"): view for view in output["analyze.result"]}
    assert views["labels-by-group"]["top"] == [["kind", 1]]  # issue #1: kind/bug, sig/node; ties by name
    assert views["users-by-closed"]["top"] == [["bob", 1]]
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "labels-by-group-issues.png", "users-by-closed-issues.png"]


def test_k8s_analysis_analyze_cli(store, tmp_path):
    out = tmp_path / "out"
    result = run_cli("k8s-analysis", "analyze", "--store", store, "--out", str(out), "--pull-requests",
                     "--users-by-closed", "--release-notes-stats", "--count", "2")
    assert result.returncode == 0, result.stderr
    assert "4 of 6 items" in result.stdout and "2 malformed items skipped" in result.stdout
    assert "Users by closed PRs (top 2)" in result.stdout and "1 closed items have no known closer" in result.stdout
    assert f"in {out}/" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"{view}-pull-requests.{kind}" for view in ("users-by-closed", "release-notes-stats")
        for kind in ("json", "png", "svg"))
    result = run_cli("k8s-analysis", "analyze", "--store", store, "--out", str(tmp_path / "all"), "--period", "year")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "all").glob("*-all.png"))) == len(VIEWS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--include", "["], "--include regex '[' is invalid"),
        (["--count", "0"], "--count must be at least 1"),
        (["--store", "/nonexistent/k.sqlite"], "store /nonexistent/k.sqlite does not exist"),
    ],
)
def test_k8s_analysis_analyze_bad_input(store, tmp_path, args, message):
    result = run_cli("k8s-analysis", "analyze", "--store", store, "--out", str(tmp_path), *args)
    assert result.returncode == 1
    assert f"k8s-analysis: error: {message}" in result.stderr
