"""Ctrl-C between pages: the first press asks every walk to stop after its page in flight, the second stops at once.

A walk (an export window, the final pass, the closers, a merge) runs in a worker thread, where no
signal arrives, and commits page by page. :func:`install` makes SIGINT set :data:`STOP`; a walk calls
:func:`check` between pages and raises :class:`Interrupted`, naming itself, so the command can say
what resumes it. With no walk in progress the press interrupts the main thread as usual.
"""
import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

from .errors import EXIT_INTERRUPTED

STOP = threading.Event()
_walks = 0
_lock = threading.Lock()


class Interrupted(Exception):
    """A walk stopped between pages at Ctrl-C; everything it fetched before is committed."""

    def __init__(self, walk: str):
        super().__init__(f"{walk} interrupted")
        self.walk = walk


def check(walk: str) -> None:
    """Raise :class:`Interrupted` once Ctrl-C was pressed: call it between pages."""
    if STOP.is_set():
        raise Interrupted(walk)


@contextlib.contextmanager
def walking(walk: str) -> Iterator[None]:
    """A walk in progress: Ctrl-C then lets its page finish instead of interrupting the main thread."""
    global _walks
    check(walk)
    with _lock:
        _walks += 1
    try:
        yield
    finally:
        with _lock:
            _walks -= 1


def _on_sigint(signum, frame) -> None:
    if STOP.is_set():  # the second press: nothing in flight is worth a traceback (every page is committed)
        os.write(sys.stderr.fileno(), b"k8s-analysis: stopped\n")
        os._exit(EXIT_INTERRUPTED)
    STOP.set()
    if _walks:
        os.write(sys.stderr.fileno(), b"k8s-analysis: stopping after the page in flight (Ctrl-C again: at once)\n")
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """SIGINT handled as above while the block runs (in the main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    STOP.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        if not STOP.is_set():  # once pressed, a second press while the process winds down still stops it quietly
            signal.signal(signal.SIGINT, previous)
