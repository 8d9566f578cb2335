"""AF_PACKET sockets on a lab interface: every frame it sends and receives, with the kernel's time.

The socket is opened by the calling thread while it is inside the namespace (sysns.call_in), and
bound to the interface there; it stays in that namespace whichever thread reads it later, so a
background capture's thread reads sockets the main thread opened and never calls setns itself.
No fork per namespace, no tcpdump.

Frames come through a TPACKET_V3 ring shared with the kernel (PACKET_RX_RING, mmap): the kernel
fills blocks of frames, nslab reads a whole block without a system call per frame and hands the
block back.  A VLAN tag the kernel took off a frame (it keeps it in the frame's header) is put
back, as libpcap does, so a line and a pcapng show it.
"""

from __future__ import annotations

import errno
import mmap
import socket
import struct

from ..base.errors import CommandError
from . import sysns

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_OUTGOING = 4
TP_STATUS_KERNEL, TP_STATUS_USER = 0, 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
BLOCK = 1 << 20  # bytes: a GSO frame on a veth (64 KB and more) fits in one
BLOCKS = 64  # at most a 64 MB ring per endpoint: a burst (ping -f) waits here while nslab is busy
BUDGET = 128  # blocks (MB of kernel memory that cannot be swapped) for all the endpoints of one capture
MIN_BLOCKS = 4
RETIRE_MS = 20  # a block that is not full is handed over after this long: lines come promptly
SNAP = BLOCK - 4096  # the longest frame a block holds whole
_BLOCK_HDR = struct.Struct("=III")  # block_status, num_pkts, offset_to_first_pkt (at offset 8)
# tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac, net, rxhash, vlan_tci, vlan_tpid
_PKT_HDR = struct.Struct("=IIIIIIHHIIH")
_SLL_PKTTYPE = 48 + 10  # the sockaddr_ll after the 48-byte header: its sll_pkttype

Frame = tuple[int, bool, bytes]  # the kernel's time (epoch nanoseconds: a float would round to 0.24 us), outgoing, the frame


class Tap:
    """One endpoint's packet socket and its ring; `frames` takes the blocks the kernel has filled."""

    def __init__(self, label: str, sock: socket.socket, blocks: int, size: int = BLOCK) -> None:
        self.label = label  # NS:IF
        self.sock = sock
        self.blocks = blocks
        self.size = size  # bytes a block holds
        self.ring = mmap.mmap(sock.fileno(), size * blocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.block = 0  # the next block to look at: the kernel fills them in order
        self.drops = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def frames(self, limit: int = BLOCKS) -> list[Frame]:  # (at most one lap of the ring)
        """Every frame of up to LIMIT filled blocks, in the kernel's order."""
        out: list[Frame] = []
        ring, unpack = self.ring, _PKT_HDR.unpack_from
        for _ in range(limit):
            base = self.block * self.size
            status, count, first = _BLOCK_HDR.unpack_from(ring, base + 8)
            if not status & TP_STATUS_USER:
                break
            at = base + first
            for _ in range(count):
                nxt, sec, nsec, snap, _, st, mac, _, _, tci, tpid = unpack(ring, at)
                frame = ring[at + mac:at + mac + snap]
                if st & TP_STATUS_VLAN_VALID:
                    frame = frame[:12] + struct.pack("!HH", tpid if st & TP_STATUS_VLAN_TPID_VALID else 0x8100,
                                                     tci) + frame[12:]
                out.append((sec * 1_000_000_000 + nsec, ring[at + _SLL_PKTTYPE] == PACKET_OUTGOING, frame))
                at += nxt
            struct.pack_into("=I", ring, base + 8, TP_STATUS_KERNEL)  # the block is the kernel's again
            self.block = (self.block + 1) % self.blocks
        return out

    def kernel_drops(self) -> int:
        """Frames the kernel dropped because the ring was full (so far, summed)."""
        try:
            _, drops, _ = struct.unpack("=III", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
        except OSError:
            return self.drops
        self.drops += drops  # the kernel resets its counters on each read
        return self.drops

    def close(self) -> None:
        self.ring.close()
        self.sock.close()


def ring_blocks(endpoints: int) -> int:
    """Each endpoint's ring, in 1 MB blocks: BUDGET shared by the capture's endpoints (a capture of a
    whole lab must not pin gigabytes), between MIN_BLOCKS and BLOCKS."""
    return max(MIN_BLOCKS, min(BLOCKS, BUDGET // max(1, endpoints)))


def open_tap(ns_fd: int, ifname: str, label: str, blocks: int = BLOCKS, size: int = BLOCK) -> Tap:
    """A packet socket bound to IFNAME in the namespace NS_FD, opened there by this thread, with a
    ring of BLOCKS blocks of SIZE bytes (a multiple of the page size; `trace` takes small ones)."""
    def make() -> socket.socket:
        # protocol 0: nothing is queued until bind names the interface (an ETH_P_ALL socket would
        # first take every interface's frames)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            # block size and count, frame size and count (V3 packs frames of any size), retire timeout
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack("=7I", size, blocks, 2048, size * blocks // 2048,
                                                                    RETIRE_MS, 0, 0))
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
        return Tap(label, sock, blocks, size)
    except OSError as e:
        sock.close()
        raise CommandError(f"capture {label}: cannot map its ring: {e.strerror}") from None
