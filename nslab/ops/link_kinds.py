"""More link kinds the kernel has: macvlan and vxlan, each op kind's parts in one place (the
registry, nslab/ops/opkinds.py, names them): the kernel apply, the model effect for the dry
run, the iproute2 lines for `export sh`, and the words.  Undoing either is deleting the link,
as for a bridge.

    {"op": "macvlan", "ns": NS, "name": NAME, "link": PARENT, "mode": "bridge"}
    {"op": "vxlan", "ns": NS, "name": NAME, "vni": 42, "remote": IP | "group": IP, "dev": DEV, "port": 4789}
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from ..kernel.inventory import Link
from ..kernel.labstate import ETH_MTU, LabState
from ..kernel.netns import HOST
from .model import _free, link_of
from .op_text import ep
from .shell_words import command, ip_words

Op = dict[str, Any]
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}  # linux/if_link.h
IFLA_MACVLAN_MODE = 1
IFLA_VXLAN_ID, IFLA_VXLAN_GROUP, IFLA_VXLAN_LINK, IFLA_VXLAN_PORT, IFLA_VXLAN_GROUP6 = 1, 2, 3, 15, 16
VXLAN_PORT = 4789  # IANA's; the kernel's own default (8472) predates it, and iproute2 warns about it
VXLAN_HEADROOM = 50  # outer Ethernet, IP, UDP and VXLAN headers: the tunnel's MTU is its device's less this


def _made(kernel: Any, op: Op) -> list[Op]:
    ids = kernel.made(op["ns"], op["name"], kernel._tag(op["ns"], op["name"], op.get("alias")))
    if ids:
        op["ids"] = ids
    return [{"op": "link_del", "ns": op["ns"], "name": op["name"]}]


# -- the kernel ---------------------------------------------------------------------------
def _mac(op: Op) -> bytes:
    from ..kernel.nlmsg import IFLA_ADDRESS, attr_mac

    return attr_mac(IFLA_ADDRESS, op["mac"]) if op.get("mac") else b""


def apply_macvlan(kernel: Any, op: Op, inverse: bool) -> list[Op]:
    from ..kernel.nlmsg import IFLA_LINK, attr_u32

    parent = kernel.index(op["ns"], op["link"])
    kernel.nss.get(op["ns"]).nl.add_link(op["name"], "macvlan", data=attr_u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[op["mode"]]),
                                         extra=attr_u32(IFLA_LINK, parent) + _mac(op))
    return _made(kernel, op)


def apply_vxlan(kernel: Any, op: Op, inverse: bool) -> list[Op]:
    from ..kernel.nlmsg import attr, attr_u32

    peer = ipaddress.ip_address(op.get("remote") or op["group"])
    data = attr_u32(IFLA_VXLAN_ID, op["vni"]) + attr(IFLA_VXLAN_PORT, struct.pack("!H", op.get("port") or VXLAN_PORT))
    data += attr(IFLA_VXLAN_GROUP if peer.version == 4 else IFLA_VXLAN_GROUP6, peer.packed)
    if op.get("dev"):
        data += attr_u32(IFLA_VXLAN_LINK, kernel.index(op["ns"], op["dev"]))
    kernel.nss.get(op["ns"]).nl.add_link(op["name"], "vxlan", data=data, extra=_mac(op))
    return _made(kernel, op)


# -- the model (the dry run) --------------------------------------------------------------
# (the model's link_index is the lower interface's, which the kernel deletes them with: model._drop)
def model_macvlan(state: LabState, op: Op) -> None:
    parent = link_of(state, op["ns"], op["link"])
    _free(state, op["ns"], op["name"])
    state.new_link(op["ns"], op["name"], "macvlan", parent.mtu, op.get("mac") or "").link_index = parent.index


def model_vxlan(state: LabState, op: Op) -> None:
    mtu, lower = ETH_MTU - VXLAN_HEADROOM, None
    if op.get("dev"):
        dev = link_of(state, op["ns"], op["dev"])
        mtu, lower = dev.mtu - VXLAN_HEADROOM, dev.index
    _free(state, op["ns"], op["name"])
    state.new_link(op["ns"], op["name"], "vxlan", mtu, op.get("mac") or "").link_index = lower


# -- made again (undoing a deletion): the op from the kernel's record of the link ------------
def macvlan_mode(link: Link) -> str | None:
    """A macvlan's mode by name (bridge, private, vepa, passthru), from its IFLA_INFO_DATA."""
    from ..kernel.nlmsg import attrs

    a = attrs(link.info)
    mode = struct.unpack("I", a[IFLA_MACVLAN_MODE])[0] if IFLA_MACVLAN_MODE in a else None
    return {v: k for k, v in MACVLAN_MODES.items()}.get(mode) if mode is not None else None


def remake(link: Link, names: dict[int, str]) -> Op | None:
    """The op that makes a deleted macvlan or vxlan again, with its mode, id, ends and MAC, from
    its IFLA_INFO_DATA; None when what it stood on cannot be named (`names`: index -> name in
    its namespace)."""
    from ..kernel.nlmsg import attrs

    a = attrs(link.info)
    op: Op = {"op": link.kind, "ns": link.ns, "name": link.name, "mac": link.mac, "alias": link.alias or ""}
    if link.kind == "macvlan":
        parent = names.get(link.link_index or 0) if link.link_nsid is None else None
        mode = macvlan_mode(link)
        return {**op, "link": parent, "mode": mode} if parent and mode else None
    if link.kind != "vxlan" or IFLA_VXLAN_ID not in a:
        return None
    op["vni"] = struct.unpack("I", a[IFLA_VXLAN_ID])[0]
    if IFLA_VXLAN_PORT in a:
        op["port"] = struct.unpack("!H", a[IFLA_VXLAN_PORT])[0]
    raw = a.get(IFLA_VXLAN_GROUP) or a.get(IFLA_VXLAN_GROUP6)
    if not raw:
        return None  # no other end: not a tunnel nslab makes
    peer = ipaddress.ip_address(raw)
    op["group" if peer.is_multicast else "remote"] = str(peer)
    dev = struct.unpack("I", a[IFLA_VXLAN_LINK])[0] if IFLA_VXLAN_LINK in a else 0
    if dev:
        if dev not in names:
            return None
        op["dev"] = names[dev]
    return op


# -- iproute2 and words ---------------------------------------------------------------------
def macvlan_lines(op: Op) -> list[str]:
    return [command(*ip_words(op.get("ns", HOST)), "link", "add", "link", op["link"], "name", op["name"],
                    "type", "macvlan", "mode", op["mode"])]


def _vxlan_args(op: Op) -> list[str]:
    where = ["remote", op["remote"]] if op.get("remote") else ["group", op["group"]]
    dev = ["dev", op["dev"]] if op.get("dev") else []
    return ["id", str(op["vni"]), *where, *dev, "dstport", str(op.get("port") or VXLAN_PORT)]


def vxlan_lines(op: Op) -> list[str]:
    return [command(*ip_words(op.get("ns", HOST)), "link", "add", "name", op["name"], "type", "vxlan", *_vxlan_args(op))]


def macvlan_words(op: Op) -> str:
    return f"+ macvlan {ep(op.get('ns', HOST), op['name'])} on {op['link']} (mode {op['mode']})"


def vxlan_words(op: Op) -> str:
    return f"+ vxlan {ep(op.get('ns', HOST), op['name'])} " + " ".join(_vxlan_args(op))
