"""A real headless Chromium for the tests, driven over the DevTools protocol (a WebSocket, as
the browser's own tools do): load a page, read back what it shows (rendered text, drawn
geometry), take a screenshot.

Chromium comes from the distribution (Debian: ``apt-get install -y chromium``); ``find()``
returns None where there is none, and the tests that need it skip, saying so."""

from __future__ import annotations

import asyncio
import base64
import itertools
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "no Chromium found: apt-get install -y chromium (Debian) to run the browser check"


def find() -> str | None:
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Browser:
    """``async with Browser() as b: await b.load(url); await b.evaluate("js")``."""

    def __init__(self, width: int = 1280, height: int = 2000) -> None:
        exe = find()
        if exe is None:
            raise RuntimeError(INSTALL_HINT)
        self.exe, self.size = exe, (width, height)
        # Chromium's helper processes can still be writing the profile when the main one has
        # exited: a directory that is not empty yet must not fail the test (seen in CI once)
        self._dir = tempfile.TemporaryDirectory(prefix="indexer-chromium-",
                                                ignore_cleanup_errors=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        self._proc = subprocess.Popen(
            [self.exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self._dir.name}", f"--window-size={self.size[0]},{self.size[1]}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = await self._port()
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await connect(page["webSocketDebuggerUrl"], max_size=None)
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def _port(self) -> int:
        """Chromium writes the port it took into DevToolsActivePort."""
        path = Path(self._dir.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not path.exists() or not path.read_text().strip():
            if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                raise RuntimeError(f"{self.exe} did not open its DevTools port")
            await asyncio.sleep(0.05)
        return int(path.read_text().split()[0])

    async def __aexit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._dir.cleanup()

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   *, until_event: str | None = None) -> dict[str, Any]:
        """A command's result (and, with ``until_event``, wait for that event after it)."""
        assert self._ws is not None
        msg_id = next(self._ids)
        await self._ws.send(orjson.dumps({"id": msg_id, "method": method,
                                          "params": params or {}}).decode())
        result: dict[str, Any] | None = None
        async with asyncio.timeout(60):
            while result is None or until_event is not None:
                msg = orjson.loads(await self._ws.recv())
                if msg.get("id") == msg_id:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    result = msg["result"]
                elif until_event is not None and msg.get("method") == until_event:
                    until_event = None
        return result

    async def load(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url}, until_event="Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        found = await self.send("Runtime.evaluate", {"expression": expression,
                                                     "returnByValue": True})
        if "exceptionDetails" in found:
            raise RuntimeError(f"{expression[:60]}…: {found['exceptionDetails']}")
        return found["result"].get("value")

    async def screenshot(self) -> bytes:
        shot = await self.send("Page.captureScreenshot", {"format": "png",
                                                          "captureBeyondViewport": True})
        return base64.b64decode(shot["data"])
