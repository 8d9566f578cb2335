"""The bash checks `export sh` writes for the goals on what the lab learned: `expect neigh`
(`ip neigh show to IP`) and `expect fdb` (`bridge fdb show br BRIDGE`).

An endpoint's MAC is read when the script runs (`mac_of`): a rebuilt lab's veths have MACs of
their own.  The port an `expect fdb` names is found as nslab finds it (kernel/learned.py's
`port_towards`), on the model of the lab as the steps before the goal left it: the script then
asks for that port by name.
"""

from __future__ import annotations

import re
from typing import Any

from ..kernel import learned
from ..kernel.labstate import LabState
from ..kernel.netns import HOST
from ..ops import opkinds
from ..ops.journal import Step
from ..ops.shell_words import ip_words, quote
from .view import ModelView

HANDLERS = ("expect_neigh", "expect_fdb")

MAC_OF = r"""
# mac_of NS IF: the MAC address of IF in NS ('' for the host), read as the script runs.
mac_of() { ip ${1:+-n "$1"} -o link show dev "$2" 2>/dev/null | sed -n 's|.* link/ether \([0-9a-f:]*\) .*|\1|p'; }
"""
USABLE = "(" + "|".join(sorted(learned.RESOLVED)) + ")"


def _ere(text: str) -> str:
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def _mac_word(ns: str, ep: Any) -> str:
    """A regex piece (already quoted for bash) matching EP's MAC when the script runs."""
    where = ep.ns or ns
    return '"$(mac_of ' + ("''" if where == HOST else quote(where)) + " " + quote(ep.ifname) + ')"'


class Ports:
    """The lab as the kept steps so far built it (their ops' model effects), to find a port by the
    rule nslab uses.  A step the model cannot follow leaves the port unknown ("")."""

    def __init__(self) -> None:
        self.state: LabState | None = LabState.fresh()

    def follow(self, step: Step) -> None:
        if self.state is None:
            return
        try:
            for op in step.ops:
                opkinds.kind(op).model(self.state, op)
        except Exception:  # noqa: BLE001 - whatever the model refuses, it no longer knows the lab
            self.state = None

    def port(self, bridge_ns: str, bridge: str, ns: str, ifname: str) -> str | None:
        if self.state is None:
            return ""
        return learned.port_towards(ModelView(self.state).lab_links(), bridge_ns, bridge, ns, ifname)


def checks(ns: str, handler: str, v: dict[str, Any], ports: Ports | None) -> list[tuple[bool, str]]:
    """(should succeed, bash command) pairs for an `expect neigh`/`expect fdb` in namespace NS."""
    if handler == "expect_neigh":
        if v.get("ep") is not None:
            mac = _mac_word(ns, v["ep"])
        elif v.get("mac") is not None:
            mac = quote(_ere(v["mac"]))
        else:
            mac = "'[0-9a-f:]+'"
        show = " ".join(quote(a) for a in [*ip_words(ns), "neigh", "show", "to", str(v["ip"])])
        head = quote("^" + _ere(str(v["ip"])) + " dev [^ ]+ lladdr ")
        tail = quote("( [a-z_]+)* " + USABLE + " *$")
        return [(True, f"has_match {head}{mac}{tail} {show}")]
    if handler == "expect_fdb":
        ep, bridge = v["ep"], v["bridge"]
        port = ports.port(ns, bridge, ep.ns or ns, ep.ifname) if ports is not None else ""
        if port is None:  # no way leads from the endpoint to the bridge: nslab finds the goal unmet
            return [(True, "false")]
        where = "[^ ]+" if not port else _ere(port)
        show = " ".join(quote(a) for a in ["bridge", *(["-n", ns] if ns != HOST else []), "fdb", "show", "br", bridge])
        head, tail = quote("^"), quote(f" dev {where} (vlan [0-9]+ )?master {_ere(bridge)} *$")
        return [(True, f"has_match {head}{_mac_word(ns, ep)}{tail} {show}")]
    return []
