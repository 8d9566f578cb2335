"""AF_PACKET sockets on a lab interface: every frame it sends and receives, with the kernel's time.

The socket is opened by the calling thread while it is inside the namespace (sysns.call_in), and
bound to the interface there; it stays in that namespace whichever thread reads it later, so a
background capture's thread reads sockets the main thread opened and never calls setns itself.
No fork per namespace, no tcpdump.  A VLAN tag the kernel took off a frame (it keeps it in the
packet's auxiliary data) is put back, as libpcap does, so a line and a pcapng show it.
"""

from __future__ import annotations

import errno
import socket
import struct

from ..base.errors import CommandError
from . import sysns

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
RCVBUF = 32 << 20  # bytes: a burst (ping -f) waits here while the reader is busy
SNAP = 262144  # bytes: a GSO frame on a veth can be far bigger than the MTU
_AUX = struct.Struct("=IIIHHHH")
_TS = struct.Struct("=qq")
_ANC = socket.CMSG_SPACE(_TS.size) + socket.CMSG_SPACE(_AUX.size)

Frame = tuple[int, bool, bytes]  # the kernel's time (epoch nanoseconds: a float would round to 0.24 us), outgoing, the frame


class Tap:
    """One endpoint's packet socket, non-blocking; `frames` takes what is queued now."""

    def __init__(self, label: str, sock: socket.socket) -> None:
        self.label = label  # NS:IF
        self.sock = sock
        self.buf = bytearray(SNAP)
        self.drops = 0
        self.down = False  # the interface went down (ENETDOWN) at least once

    def fileno(self) -> int:
        return self.sock.fileno()

    def frames(self, limit: int = 512) -> list[Frame]:
        out: list[Frame] = []
        view = memoryview(self.buf)
        for _ in range(limit):
            try:
                n, anc, _, addr = self.sock.recvmsg_into([view], _ANC)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.ENETDOWN:  # said once per down; the socket works again once it is up
                    self.down = True
                    continue
                raise
            ts, frame = 0, bytes(view[:n])
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TS.unpack_from(data)
                    ts = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                    frame = _with_vlan(frame, data)
            out.append((ts, addr[2] == PACKET_OUTGOING, frame))
        return out

    def kernel_drops(self) -> int:
        """Frames the kernel dropped because the socket's buffer was full (so far, summed)."""
        try:
            _, drops = struct.unpack("=II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            return self.drops
        self.drops += drops  # the kernel resets its counters on each read
        return self.drops

    def close(self) -> None:
        self.sock.close()


def _with_vlan(frame: bytes, aux: bytes) -> bytes:
    status, _, _, _, _, tci, tpid = _AUX.unpack_from(aux)
    if not status & TP_STATUS_VLAN_VALID:
        return frame
    tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
    return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]


def open_tap(ns_fd: int, ifname: str, label: str) -> Tap:
    """A packet socket bound to IFNAME in the namespace NS_FD, opened there by this thread."""
    def make() -> socket.socket:
        # protocol 0: nothing is queued until bind names the interface (an ETH_P_ALL socket would
        # first take every interface's frames)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, ETH_P_ALL))  # Python turns it to network order
        except BaseException:
            sock.close()
            raise
        return sock

    try:
        sock = sysns.call_in(ns_fd, make)
    except PermissionError:
        raise CommandError("capture needs CAP_NET_RAW in the lab (run nslab in isolated mode or as root)") from None
    except OSError as e:
        if e.errno == errno.ENODEV:
            raise CommandError(f"no interface {label}") from None
        raise CommandError(f"capture {label}: {e.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:  # without CAP_NET_ADMIN: as much as net.core.rmem_max allows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.setblocking(False)
    return Tap(label, sock)
