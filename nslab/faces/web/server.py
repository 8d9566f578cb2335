"""The live web view of a lab: an aiohttp server on a thread of the lab's process.

aiohttp, not starlette+uvicorn: one package that is both the server and the SSE stream, no ASGI
layer between, and it serves on a socket it is handed (web.SockSite), which an isolated lab
needs: its listening socket is made outside by kernel/outside.py.  It is imported only when
`web` starts (0.19 s of imports a one-line lab does not pay).

The lab's thread publishes a snapshot after every step (Session.followers); the server thread
only reads snapshots, never the lab.  Every request needs the token and a Host header naming
the address it listens on (a page of another site cannot reach it by DNS rebinding); only the
files of STATIC are served.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ...engine.topology import shown, topology
from ...engine.view import KernelView
from ...kernel import outside

HERE = Path(__file__).parent
STATIC = {"index.html": "text/html", "page.js": "text/javascript", "cytoscape.min.js": "text/javascript",
          "cytoscape-LICENSE": "text/plain"}
JOURNAL = 200  # steps sent to the page, newest first
BUDGET = 0.04  # the share of a burst of steps' time spent drawing the picture (step times within 10%)


def snapshot(lab: Any) -> dict[str, Any]:
    """The lab as the page draws it: the wiring, and the journal beside it (on the lab's thread)."""
    drawn = topology(shown(KernelView(lab.nss)), lab.context).as_json()
    steps = [s for s in lab.journal.steps if s is not lab.last or s.outcome][-JOURNAL:]
    drawn["journal"] = [{"n": s.n, "source": s.source, "context": s.context, "text": s.text, "outcome": s.outcome,
                         "ms": round(s.duration * 1000, 1), "ip": list(s.ip)} for s in reversed(steps)]
    return drawn


class WebView:
    def __init__(self, lab: Any, listen: str = "127.0.0.1", port: int = 0) -> None:
        self.lab = lab
        self.token = secrets.token_urlsafe(18)
        self.sock = outside.listen(listen, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.pending, self.cost, self.sent_at, self.stopped = False, 0.0, 0.0, False
        self.state = json.dumps(snapshot(lab))
        self.clients: set[asyncio.Queue[str]] = set()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nslab-web", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        lab.followers.append(self.follow)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    # -- the lab's thread ----------------------------------------------------------
    def follow(self, step: Any) -> None:
        """After a step: a new picture, unless a burst of steps (a sourced file) would spend more than
        BUDGET of its time drawing; the face's `flush` after the line then sends the last one."""
        self.pending = True
        if time.perf_counter() - self.sent_at >= self.cost / BUDGET:
            self.publish()

    def flush(self) -> None:
        if self.pending:
            self.publish()

    def publish(self) -> None:
        t0 = time.perf_counter()
        text = json.dumps(snapshot(self.lab))
        self.sent_at = time.perf_counter()
        self.cost, self.pending = self.sent_at - t0, False
        self.loop.call_soon_threadsafe(self._send, text)

    def stop(self) -> None:
        """Once: a second stop while the first cleans up would cut the cleanup short."""
        if self.follow in self.lab.followers:
            self.lab.followers.remove(self.follow)
        if self.stopped:
            return
        self.stopped = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    # -- the server's thread ---------------------------------------------------------
    def _send(self, text: str) -> None:
        self.state = text
        for q in self.clients:
            q.put_nowait(text)

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
        from .details import add_routes  # what a click shows: /api/ns/NS, /api/if/NS/IF
        add_routes(app, self)
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

        return web.Response(text=self.state, content_type="application/json")

    async def _events(self, request: Any) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        q: asyncio.Queue[str] = asyncio.Queue()
        self.clients.add(q)
        try:
            await response.write(f"data: {self.state}\n\n".encode())
            while True:
                text = await q.get()
                while not q.empty():  # a burst of steps: only the newest picture matters
                    text = q.get_nowait()
                await response.write(f"data: {text}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(q)
        return response
