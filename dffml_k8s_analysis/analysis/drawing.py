"""Several views' charts drawn at once, one worker process per core; a single chart in this process.

matplotlib draws in Python, one chart at a time per process (0.05-0.5 s each), so the charts of a
run are spread over the cores. :func:`workers` forks the workers first, while this process has no
other thread (a fork copies only the thread that forks), and each imports matplotlib and draws a
small chart while this process reads the store. :func:`draw` hands a view's numbers to one of them,
or draws here outside :func:`workers`. A chart's error comes back raised as it was; a worker that
died (killed, out of memory) leaves its chart to this process, where any error shows as itself.
"""
import asyncio
import contextlib
import ctypes
import math
import multiprocessing
import os
import pathlib
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Dict, Iterator, Optional

from . import charts
from .views import render

_pool: Optional[ProcessPoolExecutor] = None


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _ready(parent: int) -> None:
    """A worker's start: Ctrl-C is the parent's to handle, the parent's death (even by SIGKILL) ends it rather
    than leaving it to wait for work forever; matplotlib imported and its fonts loaded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # Linux only: elsewhere the pool's own shutdown
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)
    charts.warm()


CGROUP = pathlib.Path("/sys/fs/cgroup")


def _quota() -> Optional[float]:
    """The cgroup's CPU quota in CPUs (v2's cpu.max "QUOTA PERIOD", v1's cpu/cpu.cfs_*_us), None without one."""
    with contextlib.suppress(OSError, ValueError):
        if (CGROUP / "cpu.max").exists():
            quota, period = (CGROUP / "cpu.max").read_text().split()
        else:
            quota, period = ((CGROUP / "cpu" / f"cpu.cfs_{name}_us").read_text().strip() for name in ("quota", "period"))
        if quota not in ("max", "-1"):
            return int(quota) / int(period)
    return None


def cores() -> int:
    """The cores this process may use: those it may run on, within its cgroup's CPU quota (a pod's CPU limit,
    where the node's cores are many more)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _quota()
    return count if quota is None else min(count, max(1, math.ceil(quota)))


@contextlib.contextmanager
def workers(count: int) -> Iterator[None]:
    """For ``count`` charts: as many worker processes as cores (at most ``count``), forked now; none for one
    chart, on one core, or where fork is missing."""
    global _pool
    size = min(count, cores())
    if size < 2 or _pool is not None or "fork" not in multiprocessing.get_all_start_methods():
        yield
        return
    pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("fork"), initializer=_ready,
                               initargs=(os.getpid(),))
    pool.submit(int)  # with fork every worker starts at the first task: now, before any other thread
    _pool = pool
    try:
        yield
    finally:
        _pool = None
        pool.shutdown(wait=True, cancel_futures=True)


async def draw(numbers: Dict[str, Any], out: str, png: bool = False) -> Dict[str, str]:
    """:func:`views.render` in a worker of :func:`workers` (here outside it, or when the worker died)."""
    if _pool is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(_pool, render, numbers, out, png)
        except BrokenProcessPool:
            pass
    return render(numbers, out, png)
