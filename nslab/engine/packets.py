"""A captured frame in words, as `tcpdump -n -e` writes it, and the fields a capture filter tests.

Decoding goes through dpkt (imported when a capture starts: 24 ms against scapy's 150 ms, and
7 us a frame against scapy's 190 us; docs/performance.md).  The filter's tree comes from
nslab/lang/capfilter.py; it tests outer headers only, as BPF does (an ICMP error's quoted
UDP header is not `udp`).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

ETHERTYPES = {0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x88A8: "802.1Q-QinQ", 0x88CC: "LLDP"}
ICMP_UNREACH = {0: "net {dst} unreachable", 1: "host {dst} unreachable", 2: "{dst} protocol {proto} unreachable",
                3: "{dst} {qproto} port {port} unreachable", 4: "{dst} unreachable - need to frag",
                9: "net {dst} unreachable - admin prohibited", 10: "host {dst} unreachable - admin prohibited",
                13: "host {dst} unreachable - admin prohibited filter"}
ICMP6_NAMES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit", 4: "parameter problem",
               128: "echo request", 129: "echo reply", 130: "multicast listener query", 131: "multicast listener report",
               132: "multicast listener done", 133: "router solicitation", 134: "router advertisement",
               135: "neighbor solicitation", 136: "neighbor advertisement", 143: "multicast listener report v2"}
ICMP6_UNREACH = {0: "unreachable route", 1: "unreachable prohibited", 3: "unreachable address", 4: "unreachable port"}
TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x20, "U"), (0x40, "E"), (0x80, "W"), (0x10, "."))


@dataclass(slots=True)
class Seen:
    """One frame decoded: the line's parts and what a filter looks at."""

    src: str
    dst: str
    ethertype: str
    length: int
    summary: str = ""
    protocol: str = ""  # the topmost protocol decoded, named as tshark's Protocol column names it
    protos: set[str] = field(default_factory=set)
    addrs: tuple[bytes, ...] = ()  # IP source and destination (ARP: sender and target), packed
    ports: tuple[int, ...] = ()


def load() -> Any:
    """dpkt, imported now: a capture is starting."""
    import dpkt

    return dpkt


def decode(frame: bytes, dpkt: Any) -> Seen:
    """The frame in words; a frame dpkt cannot read (truncated, malformed) is said so, never raised."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
    except Exception:  # whatever a frame off the wire holds, the capture goes on
        return Seen(frame[6:12].hex(":"), frame[:6].hex(":"), _ethertype(int.from_bytes(frame[12:14], "big")),
                    len(frame), f"malformed frame, length {len(frame)}", "Malformed")
    seen = Seen(eth.src.hex(":"), eth.dst.hex(":"), _ethertype(int.from_bytes(frame[12:14], "big")), len(frame))
    parts: list[str] = []
    for tag in getattr(eth, "vlan_tags", ()):
        seen.protos.add("vlan")
        parts.append(f"vlan {tag.id}, p {tag.pri}, ethertype {_ethertype(tag.type)}")
    inner = eth.data
    try:
        body = _body(inner, seen, dpkt)
    except Exception:  # a header dpkt read but cannot go into (a short ICMP, a bad length)
        body = f"truncated or malformed, length {len(frame)}"
    seen.summary = ", ".join([*parts, body])
    return seen


def _ethertype(value: int) -> str:
    return f"{ETHERTYPES[value]} (0x{value:04x})" if value in ETHERTYPES else f"Unknown (0x{value:04x})"


def _body(inner: Any, seen: Seen, dpkt: Any) -> str:
    if isinstance(inner, dpkt.arp.ARP):
        seen.protos.add("arp")
        seen.protocol = "ARP"
        seen.addrs = (inner.spa, inner.tpa)
        tell, who = socket.inet_ntoa(inner.spa), socket.inet_ntoa(inner.tpa)
        if inner.op == dpkt.arp.ARP_OP_REQUEST:
            return f"Request who-has {who} tell {tell}, length {len(inner)}"
        if inner.op == dpkt.arp.ARP_OP_REPLY:
            return f"Reply {tell} is-at {inner.sha.hex(':')}, length {len(inner)}"
        return f"ARP, op {inner.op}, length {len(inner)}"
    if isinstance(inner, dpkt.ip.IP):
        seen.protos.add("ip")
        seen.protocol = "IPv4"
        seen.addrs = (inner.src, inner.dst)
        return _transport(inner, socket.inet_ntoa(inner.src), socket.inet_ntoa(inner.dst), seen, dpkt, 4)
    if isinstance(inner, dpkt.ip6.IP6):
        seen.protos.add("ip6")
        seen.protocol = "IPv6"
        seen.addrs = (inner.src, inner.dst)
        src = socket.inet_ntop(socket.AF_INET6, inner.src)
        dst = socket.inet_ntop(socket.AF_INET6, inner.dst)
        return _transport(inner, src, dst, seen, dpkt, 6)
    return f"length {len(bytes(inner))}"


def _transport(ip: Any, src: str, dst: str, seen: Seen, dpkt: Any, version: int) -> str:
    t = ip.data
    if isinstance(t, dpkt.udp.UDP):
        seen.protos.add("udp")
        seen.protocol = "UDP"
        seen.ports = (t.sport, t.dport)
        return f"{src}.{t.sport} > {dst}.{t.dport}: UDP, length {len(t.data)}"
    if isinstance(t, dpkt.tcp.TCP):
        seen.protos.add("tcp")
        seen.protocol = "TCP"
        seen.ports = (t.sport, t.dport)
        flags = "".join(c for bit, c in TCP_FLAGS if t.flags & bit) or "none"
        ack = f", ack {t.ack}" if t.flags & 0x10 else ""
        return f"{src}.{t.sport} > {dst}.{t.dport}: Flags [{flags}], seq {t.seq}{ack}, win {t.win}, length {len(t.data)}"
    if version == 4 and isinstance(t, dpkt.icmp.ICMP):
        seen.protos.add("icmp")
        seen.protocol = "ICMP"
        return f"{src} > {dst}: ICMP {_icmp(t, dpkt)}, length {len(t)}"
    if version == 6 and isinstance(t, dpkt.icmp6.ICMP6):
        seen.protos.add("icmp6")
        seen.protocol = "ICMPv6"
        return f"{src} > {dst}: ICMP6, {_icmp6(t)}, length {len(t)}"
    proto = ip.p if version == 4 else ip.nxt
    return f"{src} > {dst}: ip-proto-{proto} {len(bytes(t)) if not isinstance(t, bytes) else len(t)}"


def _icmp(t: Any, dpkt: Any) -> str:
    if t.type in (0, 8):
        kind = "echo request" if t.type == 8 else "echo reply"
        return f"{kind}, id {t.data.id}, seq {t.data.seq}"
    if t.type == 3:
        quoted = t.data.data  # the IP header (and 8 bytes) of the packet that could not be delivered
        if isinstance(quoted, dpkt.ip.IP):
            words = {"dst": socket.inet_ntoa(quoted.dst), "proto": quoted.p, "qproto": "udp", "port": "?"}
            inner = quoted.data
            if isinstance(inner, (dpkt.udp.UDP, dpkt.tcp.TCP)) or (isinstance(inner, bytes) and len(inner) >= 4):
                raw = bytes(inner)
                words["port"] = str(int.from_bytes(raw[2:4], "big"))
                words["qproto"] = "tcp" if quoted.p == 6 else "udp"
            return ICMP_UNREACH.get(t.code, "{dst} unreachable - code " + str(t.code)).format(**words)
        return f"unreachable, code {t.code}"
    if t.type == 11:
        return "time exceeded in-transit" if t.code == 0 else "ip reassembly time exceeded"
    if t.type == 5:
        return "redirect"
    return f"type {t.type}, code {t.code}"


def _icmp6(t: Any) -> str:
    name = ICMP6_NAMES.get(t.type, f"type {t.type}")
    raw = bytes(t)
    if t.type in (128, 129) and len(raw) >= 8:
        return f"{name}, id {int.from_bytes(raw[4:6], 'big')}, seq {int.from_bytes(raw[6:8], 'big')}"
    if t.type in (135, 136) and len(raw) >= 24:
        target = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        return f"{name}, {'who has' if t.type == 135 else 'tgt is'} {target}"
    if t.type == 1:
        return f"{name}, {ICMP6_UNREACH.get(t.code, f'code {t.code}')}"
    return name


def matches(tree: Any, seen: Seen) -> bool:
    op = tree[0]
    if op == "and":
        return matches(tree[1], seen) and matches(tree[2], seen)
    if op == "or":
        return matches(tree[1], seen) or matches(tree[2], seen)
    if op == "not":
        return not matches(tree[1], seen)
    if op == "proto":
        return tree[1] in seen.protos
    if op == "host":
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = tree[1]
        return addr.packed in seen.addrs
    if op == "port":
        return tree[1] in seen.ports
    if op == "ether":
        return tree[1] in (seen.src, seen.dst)
    raise ValueError(f"unknown filter node {op!r}")
