"""Charts drawn in worker processes (analysis/drawing.py): several at once off this process, one in it, and no
error lost on the way back."""
import errno
import functools
import os
import xml.etree.ElementTree as ElementTree

import pytest

from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis import charts, drawing, tables
from dffml_k8s_analysis.analysis.views import VIEWS, View
from dffml_k8s_analysis.errors import UserError, first_cause
from test_source import make_store

PARENT = os.getpid()
pytestmark = pytest.mark.skipif(drawing.cores() < 2, reason="one core: every chart is drawn in this process")


def drawn_by(numbers):
    """A chart naming the process that drew it."""
    return charts.bar_chart(dict(numbers, top=[[f"pid {os.getpid()}", 1]]), names="process", values="charts")


@pytest.fixture
def store(tmp_path):
    return make_store(str(tmp_path / "s.sqlite"))


def add_view(monkeypatch, chart) -> None:
    """A view ``drawn`` whose chart is ``chart`` (before run_analyze forks: its workers see it too)."""
    def count(items, keep, top, period):
        return {"top": [["items", len(items)]], "distinct": 1, "total": len(items), "count": top, "items": len(items)}

    monkeypatch.setitem(VIEWS, "drawn", View("drawn", count, "Drawn", ("created",), chart,
                                             functools.partial(tables.ranking, columns=("process", "charts"))))


def drawer(result) -> int:
    [view] = [view for view in result["views"] if view["view"] == "drawn"]
    text = "".join(ElementTree.parse(view["files"]["svg"]).getroot().itertext())
    return int(text.split("pid ")[1].split()[0])


def test_several_charts_are_drawn_in_worker_processes_one_chart_here(store, tmp_path, monkeypatch):
    add_view(monkeypatch, drawn_by)
    several = flows.run_analyze(store, ["drawn", "created", "closed"], out=str(tmp_path / "several"))
    assert drawer(several) != os.getpid()
    assert [view["view"] for view in several["views"]] == ["created", "closed", "drawn"]  # VIEWS' order
    assert all(os.path.isfile(path) for view in several["views"] for path in view["files"].values())
    alone = flows.run_analyze(store, ["drawn"], out=str(tmp_path / "alone"))
    assert drawer(alone) == os.getpid()


def failing(error: Exception, numbers):
    if os.getpid() != PARENT:
        raise error
    return drawn_by(numbers)


def test_a_chart_that_cannot_be_written_in_a_worker_is_one_line(store, tmp_path, monkeypatch):
    add_view(monkeypatch, functools.partial(failing, OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(Exception) as raised:
        flows.run_analyze(store, ["drawn", "created"], out=str(tmp_path))
    assert str(first_cause(raised.value, (UserError,))) == f"cannot write the charts in {tmp_path}: " \
                                                          "No space left on device"


def test_a_bug_in_a_worker_comes_back_as_itself(store, tmp_path, monkeypatch):
    add_view(monkeypatch, functools.partial(failing, ZeroDivisionError("a chart's bug")))
    with pytest.raises(Exception) as raised:
        flows.run_analyze(store, ["drawn", "created"], out=str(tmp_path))
    assert str(first_cause(raised.value, (ZeroDivisionError,))) == "a chart's bug"


def dying(numbers):
    if os.getpid() != PARENT:
        os._exit(9)  # as the kernel's OOM killer leaves a worker: no exception, no goodbye
    return drawn_by(numbers)


def test_a_worker_that_dies_leaves_its_charts_to_this_process(store, tmp_path, monkeypatch):
    add_view(monkeypatch, dying)
    result = flows.run_analyze(store, ["drawn", "created", "closed"], out=str(tmp_path))
    assert drawer(result) == os.getpid()
    assert sorted(view["view"] for view in result["views"]) == ["closed", "created", "drawn"]
    assert all(os.path.isfile(path) for view in result["views"] for path in view["files"].values())
