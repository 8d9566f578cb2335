"""The live web view of a lab: an aiohttp server on a thread of the lab's process.

aiohttp, not starlette+uvicorn: one package that is both the server and the SSE stream, no ASGI
layer between, and it serves on a socket it is handed (web.SockSite), which an isolated lab
needs: its listening socket is made outside by kernel/outside.py.  It is imported only when
`web` starts (0.19 s of imports a one-line lab does not pay).

The picture is drawn off the lab's thread: faces/web/live.py's thread follows the lab through
sockets of its own (kernel/mirror.py), hears changes made elsewhere too, and redraws only the
namespaces that changed; the lab's thread only says a step ended (Session.followers).  This thread
serves what that one drew: /api/lab, /events (`data:` the picture; `event: rates` each second
while a page is open).  Every request needs the token and a Host header naming the address it
listens on (a page of another site cannot reach it by DNS rebinding); only the files of STATIC
are served.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...engine.topology import shown, topology
from ...engine.view import KernelView
from ...kernel import outside
from .live import Live
from .picture import JOURNAL, step_json

HERE = Path(__file__).parent
STATIC = {"index.html": "text/html", "page.js": "text/javascript", "cytoscape.min.js": "text/javascript",
          "cytoscape-LICENSE": "text/plain"}


def snapshot(lab: Any) -> dict[str, Any]:
    """The lab as the page draws it, read whole on the caller's thread through the lab's own view
    (what the live picture must equal: tests/test_web_live.py compares them)."""
    drawn = topology(shown(KernelView(lab.nss)), lab.context).as_json()
    steps = [s for s in lab.journal.steps if s.outcome != "running"][-JOURNAL:]
    drawn["journal"] = [step_json(s) for s in reversed(steps)]
    return drawn


class WebView:
    def __init__(self, lab: Any, listen: str = "127.0.0.1", port: int = 0) -> None:
        self.lab = lab
        self.token = secrets.token_urlsafe(18)
        self.sock = outside.listen(listen, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.stopped = False
        self.clients: set[asyncio.Queue[bytes]] = set()
        self.ending: list[Callable[[], None]] = []  # called on the server's thread as it stops (open captures)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nslab-web", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        try:
            self.live = Live(lab, self._post, lambda: len(self.clients))
        except BaseException:
            self._stop_loop()
            raise
        self.state = self.live.text
        lab.followers.append(self.live.follow)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    @property
    def cost(self) -> float:
        """Seconds the last picture took to draw (on the live thread)."""
        return self.live.cost

    def flush(self) -> None:
        """Nothing to do: the live thread draws the last step of a burst once its gap has passed."""

    def stop(self) -> None:
        """Once: a second stop while the first cleans up would cut the cleanup short."""
        if self.live.follow in self.lab.followers:
            self.lab.followers.remove(self.live.follow)
        if self.stopped:
            return
        self.stopped = True
        self.live.stop()
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self._end)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _post(self, event: str, text: str) -> None:
        """The live thread: a new picture, or the rates; sent to every open page."""
        self.loop.call_soon_threadsafe(self._send, event, text)

    # -- the server's thread ---------------------------------------------------------
    def _end(self) -> None:
        """Every open stream ends (its handler waits on its queue, not on the page: the page's
        leaving is seen only at the next write, and the server's cleanup waits for the handlers)."""
        for q in self.clients:
            q.put_nowait(b"")
        for end in self.ending:
            end()

    def _send(self, event: str, text: str) -> None:
        if event == "picture":
            self.state = text
        frame = (f"data: {text}\n\n" if event == "picture" else f"event: {event}\ndata: {text}\n\n").encode()
        for q in self.clients:  # encoded once, not once per page
            q.put_nowait(frame)

    def _run(self) -> None:
        from aiohttp import web  # only when `web` starts: nslab's start-up does not pay for it

        asyncio.set_event_loop(self.loop)

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.host not in self._hosts():
                return web.Response(status=403, text="wrong Host\n")
            given = request.query.get("token") or request.cookies.get("nslab_token")
            if not given or not secrets.compare_digest(given, self.token):
                return web.Response(status=403, text="no token\n")
            return await handler(request)

        app = web.Application(middlewares=[guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/lab", self._lab)
        app.router.add_get("/events", self._events)
        from . import capture, details
        details.add_routes(app, self)  # what a click shows: /api/ns/NS, /api/if/NS/IF
        capture.add_routes(app, self)  # the details panel's live capture: /api/capture/NS/IF
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.SockSite(runner, self.sock).start())
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(runner.cleanup())
            self.loop.close()

    def _hosts(self) -> set[str]:
        names = {self.host, f"[{self.host}]"} | ({"localhost"} if self.host in ("127.0.0.1", "::1") else set())
        return {f"{n}:{self.port}" for n in names}

    async def _index(self, request: Any) -> Any:
        from aiohttp import web

        response = web.Response(body=(HERE / "static" / "index.html").read_bytes(), content_type="text/html")
        response.set_cookie("nslab_token", self.token, httponly=True, samesite="Strict")
        return response

    async def _static(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["name"]
        if name not in STATIC:  # a fixed list: no path reaches outside these files
            return web.Response(status=404, text="not found\n")
        return web.Response(body=(HERE / "static" / name).read_bytes(), content_type=STATIC[name])

    async def _lab(self, request: Any) -> Any:
        from aiohttp import web

        try:  # everything announced until now, not the last picture sent (a script's step just ended)
            text = await asyncio.wait_for(asyncio.wrap_future(self.live.now()), 5)
        except (TimeoutError, asyncio.CancelledError):
            text = self.state
        return web.Response(text=text, content_type="application/json")

    async def _events(self, request: Any) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        q: asyncio.Queue[bytes] = asyncio.Queue()
        self.clients.add(q)
        try:
            await response.write(f"data: {self.state}\n\n".encode())
            while True:
                frames = [await q.get()]
                while not q.empty():
                    frames.append(q.get_nowait())
                if b"" in frames:
                    break
                # a page that fell behind: only the newest picture and the newest rates matter
                newest = {frame.startswith(b"data:"): frame for frame in frames}
                await response.write(b"".join(newest.values()))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(q)
        return response
