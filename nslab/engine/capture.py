"""Captures: packet sockets on lab endpoints, merged in time order, matched by a filter, written to
pcapng with one interface per endpoint (`NS:IF`), in the foreground or on a background thread.

The sockets are opened by the handler on the main thread, each inside its namespace
(nslab/kernel/packet.py); a background capture's thread only reads them.  Each session keeps its
background captures in one `Captures`; the lab's end and `reset` stop them, and a stopped capture's
file is flushed and closed after its thread has ended, so it holds whole blocks only.
"""

from __future__ import annotations

import bisect
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import CommandError
from ..base.results import CaptureCounts, CapturedPacket, Message
from ..kernel.packet import BLOCKS, RETIRE_MS, SNAP, Tap
from . import packets

IF_NAME, EPB_FLAGS, ENDOFOPT = 2, 2, 0
LINES = 500  # lines a read shows at most (some 5,000-10,000 a second): the rest of a flood is counted, not shown
HOLD = 3 * RETIRE_MS / 1000  # seconds a frame waits for the other rings' frames of the same moment
INBOUND, OUTBOUND = 1, 2  # pcapng epb_flags: the direction bits


class Pcapng:
    """A pcapng file written as packets come: a section header, an interface block per endpoint
    (if_name `NS:IF`), then an enhanced packet block per frame with its interface and direction."""

    def __init__(self, path: str, labels: list[str], dpkt: Any) -> None:
        self.path = path
        self.png = dpkt.pcapng
        try:
            # O_NOFOLLOW: a symlink planted at PATH is refused, never written through
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise CommandError(f"cannot write {path}: {e.strerror}") from None
        self.file = os.fdopen(fd, "wb")
        idbs = [self.png.InterfaceDescriptionBlockLE(snaplen=SNAP, opts=[
            self.png.PcapngOptionLE(code=IF_NAME, data=label.encode()), self.png.PcapngOptionLE(code=ENDOFOPT)])
            for label in labels]
        self.writer = self.png.Writer(self.file, snaplen=SNAP, idb=idbs)
        # an enhanced packet block is packed as dpkt's own bulk writer (Writer.writepkts) packs it, from
        # dpkt's header layout and options, without an object per packet: its fields but the closing
        # length, the frame padded to 4 bytes, the direction option, the closing length
        epb = self.png.EnhancedPacketBlockLE()
        fmt = epb.__hdr_fmt__
        self.kind, self.head = epb.type, epb.__hdr_len__
        self.fields, self.closing = struct.Struct(fmt[:-1]).pack, struct.Struct(fmt[0] + fmt[-1]).pack
        self.opts = tuple(b"".join(bytes(o) for o in (
            self.png.PcapngOptionLE(code=EPB_FLAGS, data=struct.pack("<I", OUTBOUND if out else INBOUND)),
            self.png.PcapngOptionLE(code=ENDOFOPT))) for out in (False, True))
        self.pads = (b"", b"\0\0\0", b"\0\0", b"\0")  # by the frame's length modulo 4

    def write(self, iface: int, ns: int, outgoing: bool, frame: bytes) -> None:
        us = (ns + 500) // 1000
        size = len(frame)
        pad = self.pads[size % 4]
        opts = self.opts[outgoing]
        n = self.head + size + len(pad) + len(opts)
        try:
            self.file.write(b"".join((self.fields(self.kind, n, iface, us >> 32, us & 0xFFFFFFFF, size, size), frame,
                                      pad, opts, self.closing(n))))
        except OSError as e:
            raise CommandError(f"cannot write {self.path}: {e.strerror}") from None

    def flush(self) -> None:
        try:
            self.file.flush()
        except OSError as e:
            raise CommandError(f"cannot write {self.path}: {e.strerror}") from None

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:  # what could not be written was said when it was written
            pass


@dataclass
class Capture:
    """Open sockets, a filter and maybe a file: `read` takes what came, in time order."""

    taps: list[Tap]
    filter: Any = None  # nslab/lang/capfilter.py's Filter
    path: str | None = None
    lines: bool = True  # make a line per packet (not for `capture start -q` without a filter)
    number: int = 0
    kept: list[int] = field(default_factory=list)  # per tap: packets that passed the filter
    read_n: list[int] = field(default_factory=list)  # per tap: packets read
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.dpkt = packets.load()
        self.kept = [0] * len(self.taps)
        self.pending: list[tuple[int, int, bool, bytes]] = []  # read, not yet old enough to be in order
        self.read_n = [0] * len(self.taps)
        self.file: Pcapng | None = None
        if self.path is not None:
            self.file = Pcapng(self.path, [t.label for t in self.taps], self.dpkt)
        self.poller = select.poll()  # not select: a big lab's descriptors pass FD_SETSIZE
        for tap in self.taps:
            self.poller.register(tap, select.POLLIN)

    @property
    def total(self) -> int:
        return sum(self.kept)

    def read(self, timeout: float, limit: int | None = None, final: bool = False,
             until: int | None = None) -> list[Any]:
        """Wait up to TIMEOUT for packets; every ring's filled blocks are taken, then sorted by the
        kernel's time, so the endpoints' lines merge in order.  Each ring hands over its blocks on its
        own timer, so with several endpoints a frame waits HOLD for the others' of the same moment
        (FINAL: none waits, the capture is ending).  At most LIMIT pass (a `-c N` capture), and none
        the kernel saw after UNTIL (epoch ns: a `-t SEC` capture's end, read late under a flood)."""
        hold = len(self.taps) > 1 and not final
        if self.poller.poll(max(0, int((min(timeout, HOLD) if self.pending else timeout) * 1000))):
            for k, tap in enumerate(self.taps):
                got = tap.frames()
                self.read_n[k] += len(got)
                self.pending += [(ts, k, out, frame) for ts, out, frame in got]
        if not self.pending:
            return []
        self.pending.sort(key=lambda f: f[0])
        cut = bisect.bisect_right(self.pending, time.time_ns() - int(HOLD * 1e9), key=lambda f: f[0]) if hold \
            else len(self.pending)
        frames, self.pending = self.pending[:cut], self.pending[cut:]
        events: list[Any] = []
        unshown = 0
        for ts, k, outgoing, frame in frames:
            if (limit is not None and self.total >= limit) or (until is not None and ts > until):
                break
            # a flood: past LINES lines a read, packets go on into the file and the counts, not to the
            # screen, so the rings are emptied as fast as they fill
            shown = self.lines and len(events) < LINES
            seen = packets.decode(frame, self.dpkt) if shown or self.filter is not None else None
            if seen is not None and self.filter is not None and not packets.matches(self.filter.tree, seen):
                continue
            self.kept[k] += 1
            if self.file is not None:
                self.file.write(k, ts, outgoing, frame)
            if not shown:
                unshown += self.lines
            elif seen is not None:
                events.append(CapturedPacket(((ts + 500) // 1000) / 1e6, self.taps[k].label, "Out" if outgoing else "In", seen.src, seen.dst,
                                             seen.ethertype, seen.length, seen.summary, seen.protocol, self.number))
        if self.file is not None:
            self.file.flush()  # whole blocks on disk: a reader of the file meanwhile sees every packet so far
        if unshown:
            into = f"; all are in {self.path}" if self.path else ""
            events.append(Message(f"{'[' + str(self.number) + '] ' if self.number else ''}{unshown} more packets came "
                                  f"faster than lines can be shown{into}", "dim"))
        return events

    def counts(self, why: str) -> CaptureCounts:
        return CaptureCounts([(t.label, self.kept[k], self.read_n[k], t.kernel_drops()) for k, t in enumerate(self.taps)],
                             why, self.path, self.number)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        for tap in self.taps:
            tap.close()


@contextmanager
def ctrl_c() -> Iterator[Callable[[], bool]]:
    """While the body runs on the main thread, Ctrl-C sets a flag instead of raising: a foreground
    capture ends cleanly with its counts, whichever line the main thread was printing."""
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield hit.is_set
        return
    before = signal.signal(signal.SIGINT, lambda *_: hit.set())
    try:
        yield hit.is_set
    finally:
        signal.signal(signal.SIGINT, before)


def foreground(cap: Capture, count: int | None, seconds: float | None) -> Iterator[Any]:
    """The packets as they come, then the counts: until COUNT packets, SECONDS or Ctrl-C."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    until = time.time_ns() + int(seconds * 1e9) if seconds is not None else None
    why = "Ctrl-C"
    try:
        with ctrl_c() as interrupted:
            while not interrupted():
                if count is not None and cap.total >= count:
                    why = f"{count} packet{'s' if count != 1 else ''}"
                    break
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    why = f"{seconds:g} second{'s' if seconds != 1 else ''}"
                    break
                yield from cap.read(left, count, until=until)
            time.sleep(2 * RETIRE_MS / 1000)  # the rings' last blocks, not full, are handed over
            yield from cap.read(0, count, final=True, until=until if why != "Ctrl-C" else None)
            yield cap.counts(why)  # (a second Ctrl-C meanwhile changes nothing)
    finally:
        cap.close()


class Background(threading.Thread):
    def __init__(self, cap: Capture, sink: Callable[[Any], None] | None) -> None:
        super().__init__(name=f"nslab-capture-{cap.number}", daemon=True)
        self.cap = cap
        self.sink = sink
        self.stopping = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.deliver(self.cap.read(0.1))
            time.sleep(2 * RETIRE_MS / 1000)  # the ring's last block, not full, is handed over: take it too
            for _ in range(BLOCKS):
                before = sum(self.cap.read_n)
                self.deliver(self.cap.read(0, final=True))
                if sum(self.cap.read_n) == before:
                    break
        except Exception as e:  # a full disk, a bug: said in `capture ls` and once as it happens
            self.error = getattr(e, "message", None) or (e.strerror if isinstance(e, OSError) else None) \
                or f"{type(e).__name__}: {e}"
            if self.sink is not None:
                self.sink(Message(f"capture {self.cap.number} stopped: {self.error}", "error"))


    def deliver(self, events: list[CapturedPacket]) -> None:
        if self.sink is not None:
            for event in events:
                self.sink(event)
