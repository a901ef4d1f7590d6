"""Run an aiohttp server on its own event loop in a background thread (the emulator, the service)."""
import asyncio
import contextlib
import threading
from typing import Awaitable, Callable, Iterator, Tuple

from aiohttp import web


@contextlib.contextmanager
def in_thread(start: Callable[[], Awaitable[web.AppRunner]],
              name: str) -> Iterator[Tuple[asyncio.AbstractEventLoop, web.AppRunner]]:
    """Start the runner that ``start()`` sets up; yield (loop, runner); clean up and stop on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        runner = asyncio.run_coroutine_threadsafe(start(), loop).result()
        try:
            yield loop, runner
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
