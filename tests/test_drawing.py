"""Charts drawn in worker processes (analysis/drawing.py): several at once off this process, one in it, and no
error lost on the way back."""
import contextlib
import errno
import functools
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import pytest

from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis import charts, drawing, tables
from dffml_k8s_analysis.analysis.views import VIEWS, View
from dffml_k8s_analysis.errors import UserError, first_cause
from conftest import ROOT
from test_source import make_store

PARENT = os.getpid()
pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: every chart is drawn in this process")


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


WAITING = """
import asyncio, os, sys
from dffml_k8s_analysis.analysis import drawing
with drawing.workers(2):
    print(*drawing._pool._processes, flush=True)
    sys.stdin.read()  # until killed
"""


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie: dead, not yet reaped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_end_with_their_parent_even_killed(tmp_path):
    """They waited forever for work once their parent was SIGKILLed (a Job's pod deadline, the OOM killer)."""
    parent = subprocess.Popen([sys.executable, "-c", WAITING], cwd=str(ROOT), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2 and not any(gone(pid) for pid in workers)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    try:
        while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the kernel's record: nothing to wait on for another's child
        assert all(gone(pid) for pid in workers)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("files, most", [
    ({"cpu.max": "max 100000"}, None), ({"cpu.max": "100000 100000"}, 1), ({"cpu.max": "150000 100000"}, 2),
    ({"cpu.max": "1000 100000"}, 1), ({"cpu.max": "garbage"}, None), ({}, None),
    ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None)])
def test_workers_stay_within_the_cgroups_cpu_quota(tmp_path, monkeypatch, files, most):
    """A pod limited to one CPU on a 64-core node had 17 workers (40 MiB each) contend for that CPU."""
    affinity = len(os.sched_getaffinity(0))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    monkeypatch.setattr(drawing, "CGROUP", tmp_path)
    assert drawing.cores() == min(affinity, most or affinity)
    with drawing.workers(17):
        assert (drawing._pool is not None) == (drawing.cores() > 1)
