"""Queueing disciplines over nslab's own rtnetlink socket: read an interface's root qdisc,
put one back exactly as it was (its kind and its options as the kernel dumped them), delete
it, and ask the kernel whether it has a qdisc kind at all.

Encoding a new tbf or netem (struct layouts, rate tables, netem's fields) is pyroute2's job, in
`encode`, imported only when a shaping op runs; everything else here is plain bytes, so `link ls`
and a lab that never shapes stay off pyroute2.  No pyroute2 socket is ever opened: the message
goes out on the namespace's own rtnetlink socket, on the lab's thread.  A qdisc with handle 0 is the kernel's default one
(noqueue on a veth): "nothing set".
"""

from __future__ import annotations

import errno
import gzip
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .nlmsg import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NetlinkError, _str, attr, attr_str, attrs

if TYPE_CHECKING:
    from .rtnl import Rtnl

RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_TBF_PARMS, TCA_TBF_RATE64, TCA_TBF_BURST = 1, 4, 6
TC_H_ROOT = 0xFFFFFFFF
HANDLE = 0x10000  # `handle 1:`: the lab's root qdiscs have a fixed handle, as its `export sh` writes them
TCMSG = struct.Struct("=BxxxiIII")
TBF_QOPT = struct.Struct("=BBHhHI BBHhHI III".replace(" ", ""))  # rate, peakrate (tc_ratespec), limit, buffer, mtu

# classful kinds: their classes live outside the qdisc's own options (tbf and netem have one fixed class)
CLASSFUL = frozenset({"htb", "hfsc", "drr", "prio", "cbq", "ets", "qfq", "multiq", "mqprio", "mq", "taprio", "atm"})
NO_NETEM = "this kernel has no netem (sch_netem); delay, loss, duplicate, corrupt and reorder need it"
NEEDS = {"netem": NO_NETEM}


@dataclass(frozen=True)
class Qdisc:
    index: int
    kind: str
    handle: int
    parent: int
    options: bytes  # TCA_OPTIONS as dumped: what RTM_NEWQDISC takes back

    @property
    def default(self) -> bool:
        return self.handle == 0


def _tcmsg(index: int, handle: int = 0, parent: int = TC_H_ROOT) -> bytes:
    return TCMSG.pack(0, index, handle, parent, 0)


def qdiscs(nl: "Rtnl", index: int = 0) -> list[Qdisc]:
    """The qdiscs of one interface (index 0: of every interface in the namespace)."""
    out = []
    for _, payload in nl.dump(RTM_GETQDISC, _tcmsg(index, 0, 0)):
        _, ifindex, handle, parent, _ = TCMSG.unpack_from(payload)
        if index and ifindex != index:
            continue
        a = attrs(payload, TCMSG.size)
        out.append(Qdisc(ifindex, _str(a.get(TCA_KIND)) or "", handle, parent, a.get(TCA_OPTIONS, b"")))
    return out


def root(found: list[Qdisc], index: int) -> Qdisc | None:
    """An interface's root qdisc when something set one (not the kernel's default)."""
    for q in found:
        if q.index == index and q.parent == TC_H_ROOT and not q.default:
            return q
    return None


def children(found: list[Qdisc], index: int) -> list[Qdisc]:
    """Qdiscs below the root that somebody set (a tbf's own default bfifo is not dumped)."""
    return [q for q in found if q.index == index and q.parent != TC_H_ROOT and not q.default]


def encode(index: int, kind: str, options: dict[str, Any], more: bytes = b"") -> bytes:
    """A root qdisc KIND with OPTIONS (pyroute2's form: `{"attrs": [[name, value], ...]}`) as the body of an
    RTM_NEWQDISC: pyroute2's tc message classes encode it (its struct layouts, rate tables and
    netem fields), imported only here; nslab's own socket sends it."""
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    msg = tcmsg()
    msg["index"], msg["handle"], msg["parent"] = index, HANDLE, TC_H_ROOT
    msg["attrs"] = [["TCA_KIND", kind], ["TCA_OPTIONS", options]]
    msg.encode()
    body = bytes(msg.data[16:msg["header"]["length"]])  # without the netlink header: Rtnl.request adds its own
    if not more:
        return body
    # attributes pyroute2 has no name for (tbf's TCA_TBF_BURST) go at the end of TCA_OPTIONS
    a = attrs(body, TCMSG.size)
    return body[:TCMSG.size] + attr_str(TCA_KIND, kind) + attr(TCA_OPTIONS, a[TCA_OPTIONS] + more)


def netem_options(**kwarg: Any) -> dict[str, Any]:
    """netem's options from pyroute2's netem plugin (delay and jitter in us, percentages)."""
    from pyroute2.netlink.rtnl.tcmsg import plugins

    return dict(plugins["netem"].get_parameters(kwarg))


def tbf_message(index: int, rate_bits: int, burst: int, latency_us: int) -> bytes:
    """A tbf as `tc qdisc replace dev X root handle 1: tbf rate R burst B latency T` sends it: its
    TCA_TBF_PARMS (and rate table), then the burst in bytes, from which the kernel derives its bucket."""
    return encode(index, "tbf", tbf_options(rate_bits, burst, latency_us), attr(TCA_TBF_BURST, struct.pack("=I", burst)))


def tbf_options(rate_bits: int, burst: int, latency_us: int) -> dict[str, Any]:
    """tbf's options with its figures computed as tc computes them (iproute2 tc/q_tbf.c and tc_core.c, in
    doubles: pyroute2's own helper rounds the burst to whole microseconds first, so `export sh` run by tc
    would build a tbf a few bytes of burst apart)."""
    rate = rate_bits // 8
    buffer = int(1e6 * (burst / rate) * ticks_per_us())
    limit = int(rate * float(latency_us) / 1e6 + burst)
    parms = {"rate": rate, "mtu": 0, "buffer": buffer, "limit": limit}
    return {"attrs": [["TCA_TBF_PARMS", parms], ["TCA_TBF_RTAB", True]]}


def create(nl: "Rtnl", body: bytes) -> None:
    """Make or replace the root qdisc an `encode`d body describes."""
    nl.request(RTM_NEWQDISC, body, NLM_F_CREATE | NLM_F_REPLACE)


def restore(nl: "Rtnl", index: int, kind: str, options: bytes, handle: int = HANDLE) -> None:
    """Make (or replace) the root qdisc KIND with options as the kernel dumped them."""
    body = _tcmsg(index, handle) + attr_str(TCA_KIND, kind) + (attr(TCA_OPTIONS, options) if options else b"")
    nl.request(RTM_NEWQDISC, body, NLM_F_CREATE | NLM_F_REPLACE)


def delete_root(nl: "Rtnl", index: int) -> None:
    """The root qdisc goes; the kernel attaches its default again."""
    nl.request(RTM_DELQDISC, _tcmsg(index))


def has_kind(nl: "Rtnl", kind: str, index: int = 1) -> bool:
    """Whether the kernel has a qdisc kind, as the kernel answers: a root qdisc of that kind with no
    options, asked to be created on lo.  Unknown kinds are refused with ENOENT ("Specified qdisc
    kind is unknown", after the kernel tried to load the module itself); a known one refuses the
    missing options (EINVAL), so nothing is ever made."""
    try:
        nl.request(RTM_NEWQDISC, _tcmsg(index) + attr_str(TCA_KIND, kind), NLM_F_CREATE | NLM_F_EXCL)
    except NetlinkError as e:
        if e.code == errno.EAGAIN:  # the kernel loaded the module just now: ask again
            return has_kind(nl, kind, index)
        if e.code in (errno.ENOENT, errno.EINVAL):
            return e.code == errno.EINVAL
        # lo already carries a qdisc someone set (EEXIST: the kind was never looked at): the kernel's
        # configuration answers, and failing that the request itself will
        return configured(kind) is not False
    delete_root(nl, index)  # a kind that takes no options (noqueue): made after all, so taken away
    return True


def configured(kind: str, config: str = "/proc/config.gz") -> bool | None:
    """Whether the running kernel was built with a qdisc kind, from its own configuration (the dry run
    asks this: it sends nothing).  None when the kernel does not publish its configuration."""
    key = f"CONFIG_NET_SCH_{kind.upper()}"
    try:
        with gzip.open(config, "rt") as f:
            text = f.read()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + "="):
            built = line.split("=", 1)[1]
            if built == "y":
                return True
            release = os.uname().release
            return os.path.exists(f"/sys/module/sch_{kind}") or os.path.isdir(f"/lib/modules/{release}")
    return False


def ticks_per_us() -> float:
    """psched ticks per microsecond, as tc computes them from /proc/net/psched (tc_core_init)."""
    try:
        t2us, us2t, clock = (int(x, 16) for x in open("/proc/net/psched").read().split()[:3])
    except (OSError, ValueError):
        return 15.625
    if clock == 1000000000:
        t2us = us2t
    return t2us / us2t * (clock / 1e6)


def tbf_params(options: bytes) -> dict[str, int] | None:
    """A tbf's rate (bit/s), burst (bytes) and latency (us) from its dumped options, as `tc` shows them."""
    a = attrs(options)
    parms = a.get(TCA_TBF_PARMS)
    if parms is None or len(parms) < TBF_QOPT.size:
        return None
    f = TBF_QOPT.unpack_from(parms)
    rate, limit, buffer = f[5], f[12], f[13]
    if TCA_TBF_RATE64 in a:
        rate = struct.unpack("=Q", a[TCA_TBF_RATE64][:8])[0]
    if not rate:
        return None
    burst = round(rate * buffer / ticks_per_us() / 1e6)
    latency = max(0, round((limit - burst) * 1e6 / rate))
    return {"rate": rate * 8, "burst": burst, "latency": latency}
