"""The kernel's ARP table as `pingall` has to share it.

The table is one for the whole machine: every namespace's IPv4 neighbour entries count
against net.ipv4.neigh.default.gc_thresh3 (1024), which only the initial namespace may
change.  Past it a new entry is refused ("neighbor table overflow") unless the kernel can
free one, and it frees only entries not updated for 5 s: all the pairs of a big LAN at once
(50 hosts: 2450 entries) cannot fit.  So a big pingall goes in waves, and after each wave
it deletes the entries it made (RTM_DELNEIGH) in the lab's own namespaces, and only those:
what a namespace had learned before the pingall stays.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import TYPE_CHECKING

from .learned import NDA_DST, NDMSG, NUD_NOARP, NUD_PERMANENT, neighbours
from .nlmsg import NLHDR, NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, NetlinkError, attr

if TYPE_CHECKING:
    from .rtnl import Rtnl

RTM_DELNEIGH = 29
# both only where the process is in the machine's initial namespace (host mode); an isolated
# lab reads neither, and counts on the default limit and on what its own namespaces hold
THRESH3 = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"
STATS = "/proc/net/stat/arp_cache"  # the table's counters: its entries are the machine's, not a namespace's
DEFAULT_THRESH3 = 1024

Entry = tuple[int, str]  # (ifindex, IPv4 address) of a neighbour entry in one namespace


def limit() -> int:
    """gc_thresh3 where this namespace can read it, else the kernel's default."""
    try:
        with open(THRESH3) as f:
            return int(f.read())
    except (OSError, ValueError):
        return DEFAULT_THRESH3


def in_use() -> int | None:
    """The entries the machine's ARP table holds now (every namespace's), where this process
    can read it: the kernel shows the table's counters in the initial namespace only."""
    try:
        with open(STATS) as f:
            f.readline()  # the column names; then one line a CPU, each with the same table-wide count
            return int(f.readline().split()[0], 16)
    except (OSError, ValueError, IndexError):
        return None


def learned(nl: "Rtnl") -> set[Entry]:
    """The IPv4 entries the kernel learned in the namespace (not the permanent or NOARP ones)."""
    return {(n.index, n.dst) for n in neighbours(nl)
            if n.family == socket.AF_INET and not n.state & (NUD_PERMANENT | NUD_NOARP)}


def forget(nl: "Rtnl", keep: set[Entry]) -> int:
    """Delete the namespace's learned IPv4 entries that are not in `keep`; how many went.
    The deletes are sent together and their acknowledgements read after: one round trip,
    not one per entry (Rtnl.request waits for each)."""
    gone = sorted(learned(nl) - keep)
    first = nl.seq + 1
    for index, dst in gone:
        nl.seq += 1
        body = NDMSG.pack(socket.AF_INET, index, 0, 0, 0) + attr(NDA_DST, socket.inet_aton(dst))
        nl.sock.send(NLHDR.pack(NLHDR.size + len(body), RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, nl.seq, 0) + body)
    waiting = set(range(first, nl.seq + 1))
    while waiting:  # one NLMSG_ERROR a delete (0: done); an entry the kernel freed meanwhile is no error
        data = nl.sock.recv(1 << 16)
        offset = 0
        while offset + NLHDR.size <= len(data):
            length, kind, _, seq, _ = NLHDR.unpack_from(data, offset)
            if kind == NLMSG_ERROR and seq in waiting:
                waiting.discard(seq)
                code = -struct.unpack_from("=i", data, offset + NLHDR.size)[0]
                if code not in (0, errno.ENOENT):
                    raise NetlinkError(code, "deleting a neighbour entry pingall made")
            offset += max(NLHDR.size, (length + 3) & ~3)
    return len(gone)
