"""DFFML's own HTTP service (dffml-service-http), started so that it only runs our dataflows.

``dffml service http server`` as it comes serves DFFML's whole API to whoever reaches the
port: configuring sources and models (reading any file as a ``csv`` source, writing model
directories anywhere), training, reading every record of a source, uploads, registering
new dataflow routes. It also answers any ``Content-Type`` from any ``Origin``, so any web page
the operator visits can POST to it. :class:`GuardedServer` is DFFML's own server class with:

- atomic mode (``-mc-atomic``): none of those routes exist, only the dataflow routes of the
  ``-mc-config`` directory (``dataflows/dffml-service``: ``/predict`` and ``/analyze``), and no more can
  be registered; no models or sources are configured, so none can be trained or read;
- a guard in front of every request: the ``Host`` must be the bound address or a loopback name
  (no DNS rebinding), an ``Origin``, when sent, must be that same host (no cross-site
  requests), and a body must be ``application/json`` (which a page cannot send elsewhere
  without a CORS preflight, and DFFML answers none): 403 or 415 otherwise.
"""
import asyncio
import signal
import urllib.parse
from typing import Callable, Optional, Tuple

from aiohttp import web
from dffml_service_http.cli import Server

JSON = "application/json"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def refusal(request: web.Request, bound: str) -> Optional[Tuple[int, str]]:
    """(status, message) when the guard refuses ``request`` to a server bound to ``bound``; None when it passes."""
    host = urllib.parse.urlsplit(f"//{request.host}").hostname or ""
    if host not in LOOPBACK | {bound}:
        return 403, f"host {request.host!r} is not served here"
    origin = request.headers.get("Origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.host:
        return 403, f"cross-origin request from {origin!r} refused"
    if request.method not in ("GET", "HEAD") and request.content_type != JSON:
        return 415, f"the body must be {JSON}, got {request.content_type!r}"
    return None


class GuardedServer(Server):
    """DFFML's HTTP server in atomic mode, with no models or sources, behind :func:`refusal`."""

    @web.middleware
    async def error_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        refused = refusal(request, self.addr)
        if refused:
            return web.json_response({"error": refused[1]}, status=refused[0])
        return await super().error_middleware(request, handler)


async def serve_forever(mc_config: str, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve ``mc_config``'s dataflow routes until SIGINT or SIGTERM; ``announce`` is told the URL and routes."""
    server = GuardedServer(mc_config=mc_config, mc_atomic=True, insecure=True, addr=host, port=port)
    started, stop = asyncio.Queue(), asyncio.Event()
    server.RUN_YIELD_START, server.RUN_YIELD_FINISH = started, stop  # DFFML's hooks: told once registered
    loop = asyncio.get_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.ensure_future(server.run())
    ready = asyncio.ensure_future(started.get())
    await asyncio.wait([running, ready], return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        ready.cancel()
        running.result()  # raises why it could not start
    routes = ", ".join(sorted(server.app["multicomm_routes"]))
    announce(f"serving the dataflows of {mc_config} on http://{host}:{server.port}: {routes}")
    await running
