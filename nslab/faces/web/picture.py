"""The page's JSON (what engine/topology's `as_json` and the journal give, key for key), built from
a kernel/mirror.Mirror and kept in parts: a namespace's text is made again only when it changed (or
the context moved), an interface's only when what is drawn of it changed, a step's only once.  A
step of a 200-namespace lab then costs the page the namespaces it touched, not the whole lab."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from ...engine.topology import Interface, interface_json
from ...kernel.mirror import Mirror, Ns

JOURNAL = 200  # steps sent to the page, newest first
MEMO = 20_000  # interfaces' texts kept (one per state an interface was drawn in)


def _link_local(text: str) -> bool:
    return ":" in text and ipaddress.ip_address(text.split("/", 1)[0]).is_link_local


def step_json(s: Any) -> dict[str, Any]:
    return {"n": s.n, "source": s.source, "context": s.context, "text": s.text, "outcome": s.outcome,
            "ms": round(s.duration * 1000, 1), "ip": list(s.ip)}


class Picture:
    def __init__(self, slots: dict[str, int] | None = None) -> None:
        # the lab's slots (Namespaces.slots, the order it first had each namespace), read, never written
        # here; a namespace made elsewhere (`ip netns add`) gets one of the picture's own past them
        self.lab_slots = slots if slots is not None else {}
        self.own_slots: dict[str, int] = {}
        self.parts: dict[str, str] = {}  # namespace -> its text
        self.context: str | None = None
        self.drawn: dict[tuple[Any, ...], str] = {}  # what is drawn of an interface -> its text
        self.steps: dict[tuple[int, int, str], str] = {}  # (id, n, outcome) -> the step's text
        self.keys: dict[str, dict[int, str]] = {}  # namespace -> index -> "ns:ifname" drawn there
        self.wiring = ""  # the cables and ports, as text
        self.cables: list[tuple[str, str]] = []

    def text(self, mirror: Mirror, changed: set[str], context: str, journal: list[Any], gone: set[str]) -> str:
        if context != self.context:
            changed = changed | {context, self.context or ""}
            self.context = context
        for name in [n for n in self.parts if n not in mirror.nss]:
            del self.parts[name]
            self.keys.pop(name, None)
        for name in changed:
            if name in mirror.nss:
                self.parts[name] = self._ns(mirror.nss[name], context, name in gone)
        if changed:
            self.wiring = self._wiring(mirror)
        names = mirror.names()
        return ('{"namespaces":[' + ",".join(self.parts[n] for n in names if n in self.parts) + "]," + self.wiring
                + ',"journal":[' + ",".join(self._journal(journal)) + "]}")

    def slot(self, name: str) -> int:
        found = self.lab_slots.get(name)
        if found is None:
            found = self.own_slots.setdefault(name, len(self.lab_slots) + len(self.own_slots))
        return found

    def _ns(self, ns: Ns, context: str, gone: bool) -> str:
        """One namespace's text; a linked name whose process stopped is drawn empty, as `show` marks it."""
        names = {i: ns.link(i).name for i in ns.links}
        texts, keys = [], {}
        for index in sorted(ns.links) if not gone else []:
            m = ns.link(index)
            if m.kind == "loopback" or m.name == "lo":
                continue
            addrs = tuple(a for a in ns.addrs.get(index, ()) if not _link_local(a))
            master = names.get(m.master) if m.master else None
            key = (m.name, m.kind, m.up, m.operstate, addrs, master, m.mac)
            text = self.drawn.get(key)
            if text is None:
                if len(self.drawn) > MEMO:
                    self.drawn.clear()
                text = self.drawn[key] = json.dumps(interface_json(
                    Interface(ns.name, m.name, m.kind, m.up, m.operstate, list(addrs), master, m.mac)))
            texts.append(text)
            keys[index] = f"{ns.name}:{m.name}"
        self.keys[ns.name] = keys
        return (f'{{"name":{json.dumps(ns.name)},"context":{json.dumps(ns.name == context)},'
                f'"slot":{self.slot(ns.name)},"interfaces":[{",".join(texts)}]}}')

    def _wiring(self, mirror: Mirror) -> str:
        """Veth pairs with both ends drawn, each once (either end's word for it: an end whose peer
        moved away still names where it was), and bridge ports."""
        cables: set[tuple[str, str]] = set()
        ports: list[list[str]] = []
        for name, keys in self.keys.items():
            ns = mirror.nss[name]
            for index, key in keys.items():
                if index not in ns.links:
                    continue  # gone since the namespace was drawn: it is drawn again next time
                m = ns.link(index)
                if m.master and m.master in keys and m.master in ns.links:
                    ports.append([key, f"{name}:{ns.link(m.master).name}"])
                peer = mirror.peer(ns, index) if index in ns.peers else None
                other = self.keys.get(peer[0], {}).get(peer[1]) if peer is not None else None
                if other is not None and other != key:
                    a, b = sorted((key, other))
                    cables.add((a, b))
        self.cables = sorted(cables)
        return f'"cables":{json.dumps(self.cables)},"ports":{json.dumps(ports)}'

    def counted(self) -> set[str]:
        """The namespaces whose counters give every drawn interface's: one end of each cable (the
        namespace holding most ends first: a star's host alone), and any with another interface."""
        ends: dict[str, int] = {}
        for a, b in self.cables:
            for key in (a, b):
                ns = key.split(":", 1)[0]
                ends[ns] = ends.get(ns, 0) + 1
        on_cables = {key for cable in self.cables for key in cable}
        chosen = {ns for ns, keys in self.keys.items() if any(k not in on_cables for k in keys.values())}
        for a, b in sorted(self.cables, key=lambda c: -max(ends[c[0].split(":", 1)[0]], ends[c[1].split(":", 1)[0]])):
            x, y = a.split(":", 1)[0], b.split(":", 1)[0]
            if x not in chosen and y not in chosen:
                chosen.add(x if ends[x] >= ends[y] else y)
        return chosen

    def _journal(self, journal: list[Any]) -> list[str]:
        done = [s for s in journal[-(JOURNAL + 1):] if s.outcome != "running"][-JOURNAL:]
        kept: dict[tuple[int, int, str], str] = {}
        for s in done:
            key = (id(s), s.n, s.outcome)
            kept[key] = self.steps.get(key) or json.dumps(step_json(s))
        self.steps = kept
        return [kept[(id(s), s.n, s.outcome)] for s in reversed(done)]
