"""A live capture from the page: GET /api/capture/{ns}/{ifname}, an SSE stream behind the server's guard.

The details panel's "capture" button opens it and its "stop" button closes it.  The packet socket is
the REPL capture's own (kernel/packet.py open_tap, engine/capture.py Capture, the same decoder and the
same words: render.packet_line), opened by the server's thread inside the namespace and read by a
worker thread of the loop (a read waits in poll).  Each packet is a `data:` line, at most RATE a
second; the rest are counted, not sent.  Each second an `event: counts` says {"seen", "shown",
"skipped"}: that write is also what finds a page gone (a closed stream is seen only when written
to), so the socket is closed within a second of "stop".  The lab's end ends every stream
(WebView.ending).  At most MAX streams at once: a packet ring is kernel memory that cannot be swapped.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ...base.errors import CommandError
from ...base.results import CapturedPacket
from ...lang.kinds import check_ifname
from .details import MissingError, Reader

RATE = 50  # lines a second a stream sends at most
MAX = 4  # streams at once per server
BLOCKS = 4  # 1 MB blocks in each stream's ring (the REPL's default is 64: a page shows 50 lines a second)


def add_routes(app: Any, view: Any) -> None:
    from aiohttp import web

    reader = Reader(view.lab)
    open_now: set[asyncio.Event] = set()  # one per stream: set when it must end

    def end_all() -> None:  # the server's thread, as the lab ends
        for ended in open_now:
            ended.set()

    view.ending.append(end_all)

    async def capture(request: web.Request) -> web.StreamResponse:
        from ...engine.capture import Capture
        from ...kernel.packet import open_tap
        from ..render import packet_line

        name, ifname = request.match_info["ns"], request.match_info["ifname"]
        if len(open_now) >= MAX:
            return web.json_response({"error": f"{MAX} captures are open already: stop one first"}, status=429)
        try:
            check_ifname(ifname)
        except ValueError:
            return web.json_response({"error": f"no interface {ifname!r} in {name}"}, status=404)
        try:
            with reader.opened(name) as ns:  # the socket keeps the namespace it was made in
                tap = open_tap(ns.fd, ifname, f"{name}:{ifname}", BLOCKS)
        except MissingError as e:
            return web.json_response({"error": str(e)}, status=404)
        except CommandError as e:
            status = 404 if "no interface" in e.message else 403
            return web.json_response({"error": e.message}, status=status)
        cap = Capture([tap])
        ended = asyncio.Event()
        open_now.add(ended)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        loop = asyncio.get_running_loop()
        shown = 0
        reading: asyncio.Future[list[Any]] | None = None
        try:
            await response.prepare(request)
            second, in_second, told = time.monotonic(), 0, -1.0
            while not ended.is_set():
                reading = loop.run_in_executor(None, cap.read, 0.2)
                events = await reading
                out = []
                now = time.monotonic()
                if now - second >= 1:
                    second, in_second = now, 0
                for seen in events:
                    if isinstance(seen, CapturedPacket) and in_second < RATE:
                        in_second += 1
                        out.append(f"data: {packet_line(seen)}\n\n")
                shown += len(out)
                if now - told >= 1:  # and once a second: what was seen, also a write that finds a page gone
                    told = now
                    counts = {"seen": cap.total, "shown": shown, "skipped": cap.total - shown}
                    out.append(f"event: counts\ndata: {json.dumps(counts)}\n\n")
                if out:
                    await response.write("".join(out).encode())
        except (ConnectionResetError, asyncio.CancelledError, OSError):
            pass  # the page went, or the interface did
        finally:
            open_now.discard(ended)
            if reading is None or reading.done():
                cap.close()
            else:  # cancelled while the worker reads: the socket is closed once it is done with it
                reading.add_done_callback(lambda _: cap.close())
        return response

    async def close(app: Any) -> None:
        reader.close()

    app.router.add_get("/api/capture/{ns}/{ifname}", capture)
    app.on_cleanup.append(close)
