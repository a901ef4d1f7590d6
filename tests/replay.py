"""A tiny server that answers with recorded exchanges (``@octokit/fixtures``), in their order.

Each request must be the next recorded one (method, path, query and JSON body); the
answer is the recorded status, headers and body, with its links pointing back here. What
came and what did not match are kept for the test to check.
"""
import contextlib
import json
import urllib.parse

from aiohttp import web

from dffml_k8s_analysis import background

RECORDED_ROOT = "https://api.github.com"
PASSED_HEADERS = ("link", "etag", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                  "x-ratelimit-resource", "x-ratelimit-used", "retry-after")


def _target(path: str):
    parts = urllib.parse.urlsplit(path)
    return parts.path, sorted(urllib.parse.parse_qsl(parts.query))


def _same_body(sent, recorded) -> bool:
    """Equal JSON; a list of label names stands for ``{"labels": [...]}``, as GitHub takes either."""
    return sent == recorded or (isinstance(sent, list) and recorded == {"labels": sent})


class Replay:
    def __init__(self, exchanges: list):
        self.exchanges, self.next, self.url = list(exchanges), 0, ""
        self.unexpected = []

    async def answer(self, request: web.Request) -> web.Response:
        raw = await request.read()
        came = (request.method.lower(), _target(request.path_qs), json.loads(raw) if raw else "")
        if self.next >= len(self.exchanges):
            self.unexpected.append(came)
            return web.json_response({"message": "no recorded exchange left"}, status=599)
        recorded = self.exchanges[self.next]
        if came[:2] != (recorded["method"], _target(recorded["path"])) or not _same_body(came[2], recorded["body"]):
            self.unexpected.append(came)
            return web.json_response({"message": "not the recorded request"}, status=599)
        self.next += 1
        headers = {name: str(value).replace(RECORDED_ROOT, self.url) for name, value in recorded["headers"].items()
                   if name.lower() in PASSED_HEADERS}
        if recorded["status"] == 204:
            return web.Response(status=204, headers=headers)
        return web.json_response(recorded["response"], status=recorded["status"], headers=headers)

    @property
    def done(self) -> bool:
        return self.next == len(self.exchanges) and not self.unexpected


async def _start(replay: Replay) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", replay.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@contextlib.contextmanager
def replaying(exchanges: list):
    """Serve ``exchanges`` on a free port; yield the :class:`Replay` (its ``url`` set)."""
    replay = Replay(exchanges)
    with background.in_thread(lambda: _start(replay), "replay") as (_, runner):
        replay.url = "http://127.0.0.1:{}".format(runner.addresses[0][1])
        yield replay
