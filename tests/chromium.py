"""Debian's chromium, headless, driven over the DevTools protocol: just enough for the player.

One page, opened on a local file; everything it logs as an error, every exception it
throws and every request it makes are recorded, so a test can assert there were none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """A headless chromium with one page; use `async with Page(...) as page`."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.size = (width, height)
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.requests: list[str] = []  # every URL the page asked for
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.frames: list[str] = []  # DevTools sessions of frames in processes of their own

    async def __aenter__(self) -> Page:
        exe = executable()
        assert exe is not None
        self._profile = tempfile.TemporaryDirectory(
            prefix="graphstep-chromium-", ignore_cleanup_errors=True
        )
        self._process = subprocess.Popen(
            [
                exe,
                *FLAGS,
                f"--user-data-dir={self._profile.name}",
                f"--window-size={self.size[0]},{self.size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its helpers share a group, so they end together
        )
        assert self._process.stderr is not None
        port = None
        for line in self._process.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/…"
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
        assert port is not None, "chromium did not start its DevTools server"
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        # frames in processes of their own (a sandboxed iframe) are watched the same way
        await self.send(
            "Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True
        )
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=self.size[0],
            height=self.size[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._http.close()
        # chromium's helper processes (crashpad, utilities) may still be writing to the
        # profile after the browser exits: end the whole group, then remove the profile
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        self._signal_group(signal.SIGKILL)
        self._process.wait()
        for _ in range(50):
            try:
                shutil.rmtree(self._profile.name)
                break
            except FileNotFoundError:
                break
            except OSError:
                await asyncio.sleep(0.1)
        self._profile.cleanup()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """A command to the page, or to a frame's `session` (see `frames`)."""
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                self._waiting.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method", ""), data.get("params", {})
            self._events.setdefault(method, asyncio.Event()).set()
            if method == "Target.attachedToTarget":
                self._tasks.append(asyncio.create_task(self._watch(params["sessionId"])))
            if method == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                self.errors.append(json.dumps(params["args"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])

    async def _watch(self, session: str) -> None:
        for domain in ("Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable", session)
        await self.send("Runtime.runIfWaitingForDebugger", session)
        self.frames.append(session)

    async def open(self, path: Path) -> None:
        loaded = self._events.setdefault("Page.loadEventFired", asyncio.Event())
        loaded.clear()
        await self.send("Page.navigate", url=path.resolve().as_uri())
        await asyncio.wait_for(loaded.wait(), 30)

    async def evaluate(self, expression: str, session: str | None = None) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    async def key(self, key: str, code: int) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
            )

    async def wheel(self, x: float, y: float, delta_y: float) -> None:
        await self.send(
            "Input.dispatchMouseEvent", type="mouseWheel", x=x, y=y, deltaX=0, deltaY=delta_y
        )

    async def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        (x0, y0), (x1, y1) = start, end
        await self.send(
            "Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0, button="left", clickCount=1
        )
        for k in range(1, 6):
            x, y = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
            await self.send(
                "Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1
            )
        await self.send(
            "Input.dispatchMouseEvent",
            type="mouseReleased",
            x=x1,
            y=y1,
            button="left",
            clickCount=1,
        )
