"""The limits every HTTP server of the project keeps: read timeouts and a connection limit.

A client gets ``header_timeout`` seconds, from connecting or from its last
answer, to send a request's headers (aiohttp's keep-alive timer, which runs from
the first byte of a connection) and ``body_timeout`` seconds to send its body
(:func:`read_body`); a stalled connection is closed after that. Past
``max_connections`` open connections a new one is closed as soon as it is
accepted, so idle clients cannot use up the process's file descriptors. The
listen backlog (1,024) holds a burst of new connections while the server
accepts them, so their clients are not left waiting for a SYN retry.
"""
import asyncio
import dataclasses
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Limits:
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    max_connections: int = 1000
    backlog: int = 1024


LIMITS = web.AppKey("limits", Limits)


class BodyTimeout(Exception):
    """The client did not send its body within the limit (the connection is closed)."""


class _MalformedRequests(logging.Filter):
    """aiohttp logs each malformed request it answers 400 with a traceback, and anyone can send them: a few lines
    instead (the 1st, 10th, 100th, ...), with a traceback only when debugging."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or LOGGER.isEnabledFor(logging.DEBUG):
            return True
        self.count += 1
        if self.count not in (1, 10, 100, 1000) and self.count % 10000:
            return False
        reason = (str(error.message).strip().splitlines() or ["?"])[0][:200]
        record.msg, record.args = "%d malformed HTTP requests answered %d so far (the last: %s)", (
            self.count, error.code, reason)
        record.exc_info = record.exc_text = None
        return True


MALFORMED = _MalformedRequests()


async def start_site(app: web.Application, host: str, port: int, limits: Limits = Limits(),
                     **runner_options) -> web.AppRunner:
    """Set up ``app`` and serve it on ``host:port`` (0: a free port) within ``limits``."""
    app[LIMITS] = limits
    if MALFORMED not in server_logger.filters:
        server_logger.addFilter(MALFORMED)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.header_timeout, **runner_options)
    await runner.setup()
    _limit_connections(runner.server, limits.max_connections)
    try:
        await web.TCPSite(runner, host, port, backlog=limits.backlog).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _limit_connections(server: web.Server, limit: int) -> None:
    """Close each connection accepted beyond ``limit`` at once (aiohttp's Server has no such option)."""
    made = server.connection_made
    refused = 0

    def connection_made(handler, transport) -> None:
        nonlocal refused
        made(handler, transport)
        if len(server.connections) > limit:
            # Once the handler's task has started: closing it before makes aiohttp's task fail an assertion.
            asyncio.get_running_loop().call_soon(handler.force_close)
            refused += 1
            if refused in (1, 10, 100, 1000) or refused % 10000 == 0:  # a few lines, not one per connection
                LOGGER.warning("%d connections refused past the limit of %d open ones", refused, limit)

    server.connection_made = connection_made


async def read_body(request: web.Request) -> bytes:
    """The request's body, read within the server's body timeout; BodyTimeout (connection closed) after it."""
    try:
        return await asyncio.wait_for(request.read(), request.app[LIMITS].body_timeout)
    except asyncio.TimeoutError:
        if request.transport is not None:
            request.transport.close()
        raise BodyTimeout(f"the body was not sent within {request.app[LIMITS].body_timeout:g} s") from None
