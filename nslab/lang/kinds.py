"""Argument kinds: how a word is checked and turned into a value.

Each kind has one validator; the parser, the validator of the REPL and the
completer all use the same table, so a word means one thing everywhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import units

# the language's name for the lab's host namespace (the root one of an isolated lab)
HOST = "host"

NS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
MAC_RE = re.compile(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}\Z")
IFNAME_MAX = 15  # bytes: the kernel's IFNAMSIZ is 16 with the closing NUL


@dataclass(frozen=True)
class Endpoint:
    """An interface `IF` in the context, or `NS:IF`.  `bare` marks a word that may be a namespace."""

    ns: str | None
    ifname: str
    bare: bool = False

    def __str__(self) -> str:
        return f"{self.ns}:{self.ifname}" if self.ns else self.ifname


def check_ns(word: str) -> str:
    if "/" in word:
        raise ValueError(f"a namespace name cannot contain '/', got {word!r}")
    if not NS_RE.match(word):
        raise ValueError(
            f"expected a namespace name (letters, digits, '_', '.', '-', at most 32), got {word!r}"
        )
    return word


def check_ifname(word: str) -> str:
    size = len(word.encode("utf-8", "surrogatepass"))  # the kernel counts bytes: `é` is two
    if not word or size > IFNAME_MAX:
        chars = f", {len(word)} characters" if size != len(word) else ""
        raise ValueError(f"expected an interface name of 1-{IFNAME_MAX} bytes, got {word!r} ({size} bytes{chars})")
    if word in (".", "..") or any(c in word for c in "/: \t\n") or not word.isprintable():
        raise ValueError(f"expected an interface name without '/', ':' or spaces, got {word!r}")
    if "%" in word:  # the kernel reads it as a template: `x%d` becomes x0, any other '%' is refused
        raise ValueError(f"an interface name cannot contain '%' (the kernel reads it as a name template), got {word!r}")
    return word


def check_endpoint(word: str) -> Endpoint:
    if ":" in word:
        ns, _, ifname = word.partition(":")
        return Endpoint(check_ns(ns), check_ifname(ifname))
    return Endpoint(None, check_ifname(word))


def check_vend(word: str) -> Endpoint:
    ep = check_endpoint(word)
    return Endpoint(None, ep.ifname, bare=True) if ep.ns is None else ep


def _no_zone(word: str) -> None:
    """`fe80::1%eth0`: ipaddress keeps the zone, netlink has no place for it (ip refuses it too)."""
    addr, pct, zone = word.partition("%")
    if pct:
        zone = zone.split("/", 1)[0]
        raise ValueError(f"{word!r} has a zone (%{zone}): name the interface with `dev {zone}` and write "
                         f"the address without it ({addr.split('/', 1)[0]})")


def check_cidr(word: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    _no_zone(word)
    if "/" not in word:
        raise ValueError(f"expected an address with a prefix like 10.0.0.1/24, got {word!r}")
    try:
        return ipaddress.ip_interface(word)
    except ValueError:
        raise ValueError(f"expected an address like 10.0.0.1/24, got {word!r}") from None


def check_ip(word: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    _no_zone(word)
    try:
        return ipaddress.ip_address(word)
    except ValueError:
        raise ValueError(f"expected an address like 10.0.0.1, got {word!r}") from None


def check_dest(word: str) -> str:
    if word == "default":
        return word
    _no_zone(word)
    try:
        net = ipaddress.ip_network(word, strict=False)
    except ValueError:
        raise ValueError(f"expected a destination like 10.0.0.0/24 or 'default', got {word!r}") from None
    if "/" in word and ipaddress.ip_interface(word).ip != net.network_address:
        raise ValueError(f"{word} has host bits set (as ip says: invalid prefix); did you mean {net}?")
    return str(net)


def check_target(word: str) -> str:
    try:
        return str(ipaddress.ip_address(word))
    except ValueError:
        pass
    try:
        return check_ns(word)
    except ValueError:
        raise ValueError(f"expected an address or a namespace name, got {word!r}") from None


def _number(cast: Callable[[str], Any], lo: float, hi: float, what: str) -> Callable[[str], Any]:
    def check(word: str) -> Any:
        try:
            value = cast(word)
        except ValueError:
            raise ValueError(f"expected {what}, got {word!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected {what} from {lo:g} to {hi:g}, got {word!r}")
        return value

    return check


def check_mac(word: str) -> str:
    if not MAC_RE.match(word):
        raise ValueError(f"expected a MAC address like 02:00:00:00:00:01, got {word!r}")
    if int(word[:2], 16) & 1:
        raise ValueError(f"a multicast MAC cannot name an interface, got {word!r}")
    return word.lower()


def check_cidr_gw(word: str) -> str:
    """pipework's address: CIDR[@GATEWAY], the gateway inside the CIDR's network."""
    cidr, at, gw = word.partition("@")
    iface = check_cidr(cidr)
    if at:
        if not gw:
            raise ValueError(f"expected a gateway after '@' in {word!r}")
        gateway = check_ip(gw)
        if gateway.version != iface.version:
            raise ValueError(f"the gateway {gw} is not of the address's IP version in {word!r}")
    return word


def check_mac_vlan(word: str) -> str:
    """pipework's MAC[@VLAN]: either part may be missing (`@10` tags without a MAC)."""
    mac, at, vlan = word.partition("@")
    if mac:
        mac = check_mac(mac)
    if at:
        if not vlan.isdigit() or not 1 <= int(vlan) <= 4094:
            raise ValueError(f"expected a VLAN tag from 1 to 4094 after '@', got {word!r}")
    elif not mac:
        raise ValueError("expected MAC[@VLAN]")
    return f"{mac}{at}{vlan}"


def check_pair(word: str) -> str:
    """`A-B`, two namespaces: the word is kept whole and matched against the lab's names joined by
    '-' (names may hold '-' themselves, so it is never split)."""
    if not any(NS_RE.match(word[:i]) and NS_RE.match(word[i + 1:]) for i, c in enumerate(word) if c == "-"):
        raise ValueError(f"expected two namespaces joined by '-', like ns1-ns2, got {word!r}")
    return word


MACVLAN_MODES = ("bridge", "private", "vepa", "passthru")


def check_macvlan_mode(word: str) -> str:
    if word not in MACVLAN_MODES:
        raise ValueError(f"expected a macvlan mode ({', '.join(MACVLAN_MODES)}), got {word!r}")
    return word


# Docker's image reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest]
_IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?"
    rf"{_IMAGE_PART}(?:/{_IMAGE_PART})*(?::[\w][\w.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}})?\Z")


def check_image(word: str) -> str:
    if len(word) > 255 or not IMAGE_RE.match(word):
        raise ValueError(f"expected an image name like nslab/busybox:latest (lowercase path, optional :tag), got {word!r}")
    return word


def check_word(word: str) -> str:
    if not word:
        raise ValueError("expected a word, got nothing")
    return word


@dataclass(frozen=True)
class Kind:
    """A kind of argument: how a word is checked and what an error asks for."""

    name: str
    describe: str  # what the user is asked for, in an error: "expected ..."
    check: Callable[[str], Any]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("ns", "a namespace", check_ns),
        Kind("newns", "a new namespace name", check_ns),
        Kind("ep", "an interface (IF or NS:IF)", check_endpoint),
        Kind("vend", "an interface or a namespace", check_vend),
        Kind("ifname", "an interface name", check_ifname),
        Kind("bridge", "a bridge name", check_ifname),
        Kind("cidr", "an address like 10.0.0.1/24", check_cidr),
        Kind("ip", "an address like 10.0.0.1", check_ip),
        Kind("dest", "a destination (CIDR or default)", check_dest),
        Kind("target", "an address or a namespace", check_target),
        Kind("count", "a count", _number(int, 1, 1_000_000, "a whole number")),
        Kind("mtu", "an MTU", _number(int, 68, 65535, "an MTU")),
        Kind("seconds", "seconds", _number(float, 0.001, 3600, "a number of seconds")),
        Kind("mac", "a MAC address", check_mac),
        Kind("cidr_gw", "an address like 10.0.0.2/24 or 10.0.0.2/24@10.0.0.1", check_cidr_gw),
        Kind("mac_vlan", "MAC[@VLAN] like 02:00:00:00:00:01@10 or @10", check_mac_vlan),
        Kind("vni", "a VXLAN network identifier", _number(int, 0, 16_777_215, "a VXLAN id")),
        Kind("port", "a TCP or UDP port", _number(int, 1, 65535, "a port number")),
        Kind("macvlan_mode", "a macvlan mode (bridge, private, vepa, passthru)", check_macvlan_mode),
        Kind("pair", "two namespaces like ns1-ns2", check_pair),
        Kind("word", "a word", check_word),
        Kind("prog", "a program", check_word),
        Kind("file", "a file name", check_word),
        Kind("container", "a container", check_word),
        Kind("pid_or_container", "a PID or a container", check_word),
        Kind("cmd", "a command", check_word),
        Kind("rate", "a rate like 10mbit", units.check_rate),
        Kind("size", "a size in bytes like 32k", units.check_size),
        Kind("time", "a time like 10ms", units.check_time),
        Kind("percent", "a percentage like 1%", units.check_percent),
        Kind("filter", "a capture filter (arp, icmp, host IP, port N, and/or/not...)", check_word),
    ]
}
