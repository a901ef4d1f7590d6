"""Open a page in Debian's headless Chromium over the DevTools protocol and report what a reader would see.

One browser per ``visit``: a fresh profile, no network services, a viewport of the given width; the
page's console errors, uncaught exceptions and log errors, every URL it requested, the rendered
size of each ``img`` and a PNG screenshot of the viewport.
"""
import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
from typing import Any, Dict, Optional

import aiohttp

EXECUTABLE = shutil.which("chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
         "--remote-debugging-port=0")
# After layout, in the test harness only (the page has no script): what each image occupies on screen.
MEASURE = """JSON.stringify({
  images: [...document.images].map(img => {const box = img.getBoundingClientRect();
    return {alt: img.alt, width: box.width, height: box.height, natural: img.naturalWidth, complete: img.complete};}),
  scripts: document.scripts.length, pageWidth: document.documentElement.scrollWidth, viewport: innerWidth})"""


class Session:
    """Commands to one page (a flattened DevTools session) and the events it sent."""

    def __init__(self, socket):
        self.socket, self.ids, self.events, self.waiting = socket, itertools.count(1), [], {}
        self.session: Optional[str] = None
        self.loaded = asyncio.Event()

    async def listen(self) -> None:
        async for message in self.socket:
            data = message.json()
            if "id" in data:
                self.waiting.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)
                if data["method"] == "Page.loadEventFired":
                    self.loaded.set()

    async def send(self, method: str, **params) -> Dict[str, Any]:
        ident = next(self.ids)
        message = {"id": ident, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.waiting[ident] = asyncio.get_running_loop().create_future()
        await self.socket.send_json(message)
        reply = await asyncio.wait_for(self.waiting[ident], 60)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def errors(self) -> list:
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"])
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(params["args"])
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"])
        return found


async def _visit(url: str, width: int, height: int, mobile: bool) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as profile:
        browser = await asyncio.create_subprocess_exec(
            EXECUTABLE, *FLAGS, f"--user-data-dir={profile}", "about:blank",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            endpoint = None
            while endpoint is None:  # Chromium announces its DevTools socket on stderr
                line = (await asyncio.wait_for(browser.stderr.readline(), 60)).decode()
                if not line:
                    raise RuntimeError("chromium exited before announcing its DevTools endpoint")
                if line.startswith("DevTools listening on "):
                    endpoint = line.split(" on ", 1)[1].strip()
            drain = asyncio.ensure_future(browser.stderr.read())
            async with aiohttp.ClientSession() as http, http.ws_connect(endpoint, max_msg_size=0) as socket:
                page = Session(socket)
                listener = asyncio.ensure_future(page.listen())
                target = await page.send("Target.createTarget", url="about:blank")
                page.session = (await page.send("Target.attachToTarget", targetId=target["targetId"],
                                                flatten=True))["sessionId"]
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await page.send(f"{domain}.enable")
                await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                                deviceScaleFactor=1, mobile=mobile)
                await page.send("Page.navigate", url=url)
                await asyncio.wait_for(page.loaded.wait(), 60)
                measured = await page.send("Runtime.evaluate", expression=MEASURE, returnByValue=True)
                shot = await page.send("Page.captureScreenshot", format="png")
                listener.cancel()
            drain.cancel()
        finally:
            browser.kill()
            await browser.wait()
    requested = [event["params"]["request"]["url"] for event in page.events
                 if event["method"] == "Network.requestWillBeSent"]
    return dict(json.loads(measured["result"]["value"]), errors=page.errors(), requested=requested,
                screenshot=base64.b64decode(shot["data"]))


def visit(url: str, width: int, height: int = 900, mobile: bool = False) -> Dict[str, Any]:
    """What Chromium shows of ``url`` in a ``width`` × ``height`` viewport (``mobile``: a phone's)."""
    return asyncio.run(_visit(url, width, height, mobile))
