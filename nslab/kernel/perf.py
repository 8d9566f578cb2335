"""A throughput test between two namespaces, with nslab's own listener and sender (`perf`).

Both sockets are opened on the calling thread inside their namespaces (sysns.call_in), and the
connection is made and accepted there too; only then does a thread take the receiving end, so
no thread ever enters a namespace or opens a socket (a thread that did would keep whatever
namespace it was left in).  The sender pumps on the calling thread, paced when a rate is given.
TCP reports the sender's retransmits (TCP_INFO's tcpi_total_retrans); UDP numbers its datagrams
and the receiver counts, by sequence number, which arrived.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

from ..base.errors import CommandError
from ..base.results import PerfResult
from . import sysns

CHUNK = 128 * 1024  # iperf3's TCP default
DATAGRAM = 1460  # iperf3's UDP default
UDP_DEFAULT_RATE = 1_000_000  # bit/s, iperf3's default for UDP
CONNECT_WAIT = 2.0  # an unreachable listener fails the test this soon
TCP_INFO_TOTAL_RETRANS = 100  # the offset of tcpi_total_retrans in struct tcp_info (linux/tcp.h)
END = 0xFFFFFFFFFFFFFFFF  # a UDP datagram with this sequence number ends the test


def _open(fd: int, kind: int) -> socket.socket:
    try:
        return sysns.call_in(fd, lambda: socket.socket(socket.AF_INET, kind))
    except OSError as e:
        raise CommandError(f"perf: cannot open a socket in the namespace: {e.strerror}") from None


def _pace(rate: int | None, t0: float, sent: int) -> None:
    """Sleep until sending `sent` bytes since t0 keeps to `rate` bit/s."""
    if rate:
        ahead = sent * 8 / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)


def tcp(src_fd: int, dst_fd: int, addr: str, seconds: float, rate: int | None = None) -> PerfResult:
    listener = _open(dst_fd, socket.SOCK_STREAM)
    sender = _open(src_fd, socket.SOCK_STREAM)
    conn: socket.socket | None = None
    try:
        listener.bind((addr, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        sender.settimeout(CONNECT_WAIT)
        try:
            sender.connect((addr, port))
        except TimeoutError:
            raise CommandError(f"perf: no connection to {addr} within {CONNECT_WAIT:g} s (is it reachable?)") from None
        except OSError as e:
            raise CommandError(f"perf: connecting to {addr}: {e.strerror}") from None
        listener.settimeout(CONNECT_WAIT)
        conn, _ = listener.accept()
        conn.settimeout(seconds + 5)
        got = _Receiver(lambda buf: conn.recv_into(buf) if conn else 0)
        got.start()
        data = memoryview(bytes(CHUNK))
        sender.settimeout(5.0)  # a link gone down mid-test stalls the sender: say so, do not hang
        sent, t0 = 0, time.monotonic()
        end = t0 + seconds
        try:
            while time.monotonic() < end:
                sent += sender.send(data)
                _pace(rate, t0, sent)
            info = sender.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
            sender.shutdown(socket.SHUT_WR)
        except OSError as e:
            raise CommandError(f"perf: sending to {addr}: {e.strerror or 'timed out'}") from None
        got.join(seconds + 6)
        retrans = struct.unpack_from("I", info, TCP_INFO_TOTAL_RETRANS)[0]
        elapsed = max(got.last, t0 + 1e-6) - t0
        return PerfResult("", "", addr, "tcp", round(elapsed, 3), got.bytes, got.bytes * 8 / elapsed / 1e6,
                          retransmits=retrans)
    finally:
        for s in (sender, conn, listener):
            if s is not None:
                s.close()


def udp(src_fd: int, dst_fd: int, addr: str, seconds: float, rate: int | None = None) -> PerfResult:
    rate = rate or UDP_DEFAULT_RATE
    listener = _open(dst_fd, socket.SOCK_DGRAM)
    sender = _open(src_fd, socket.SOCK_DGRAM)
    try:
        listener.bind((addr, 0))
        try:
            sender.connect(listener.getsockname())
            sender.send(struct.pack("!Q", END - 1))  # a first datagram proves the path before the test
            listener.settimeout(CONNECT_WAIT)
            listener.recv(DATAGRAM)
        except TimeoutError:
            raise CommandError(f"perf: no datagram reached {addr} within {CONNECT_WAIT:g} s (is it reachable?)") from None
        except OSError as e:
            raise CommandError(f"perf: sending to {addr}: {e.strerror}") from None
        listener.settimeout(1.0)
        got = _Receiver(lambda buf: listener.recv_into(buf), numbered=True)
        got.start()
        pad = bytes(DATAGRAM - 8)
        sent, t0 = 0, time.monotonic()
        end = t0 + seconds
        while time.monotonic() < end:
            try:
                sender.send(struct.pack("!Q", sent) + pad)
            except OSError as e:
                if e.errno not in (105, 111):  # ENOBUFS: a full queue drops it, as a link would; ECONNREFUSED
                    raise CommandError(f"perf: sending to {addr}: {e.strerror}") from None
            sent += 1
            _pace(rate, t0, sent * DATAGRAM)
        elapsed = time.monotonic() - t0
        time.sleep(0.05)  # the last datagrams in flight
        for _ in range(3):
            sender.send(struct.pack("!Q", END) + pad)
        got.join(2.0)
        received = got.count
        return PerfResult("", "", addr, "udp", round(elapsed, 3), got.bytes, got.bytes * 8 / elapsed / 1e6,
                          sent=sent, received=received, lost=max(0, sent - received))
    finally:
        sender.close()
        listener.close()


class _Receiver(threading.Thread):
    """Reads until the end (EOF, END, or a quiet second); counts bytes, and numbered datagrams once each."""

    def __init__(self, recv_into: Callable[[memoryview], int], numbered: bool = False) -> None:
        super().__init__(daemon=True, name="nslab-perf-recv")
        self.recv_into = recv_into
        self.numbered = numbered
        self.bytes = 0
        self.count = 0
        self.last = 0.0

    def run(self) -> None:
        buf = memoryview(bytearray(CHUNK))
        seen = bytearray()
        while True:
            try:
                n = self.recv_into(buf)
            except OSError:  # a timeout or a closed socket: what came is what counts
                return
            if n <= 0:
                return
            if self.numbered:
                seq = struct.unpack_from("!Q", buf)[0] if n >= 8 else END - 1
                if seq == END:
                    return
                if seq >= END - 1:
                    continue
                if seq >= len(seen):
                    seen.extend(bytes(seq - len(seen) + 65536))
                if seen[seq]:
                    continue  # a duplicate
                seen[seq] = 1
                self.count += 1
            self.bytes += n
            self.last = time.monotonic()
