"""Completion: what fits at the cursor (typed suggestions, suggestions.py), then matches from the lab.

`fits(text, context)` walks the line before the cursor over the command table and says what may
come next as typed suggestions (Keyword, Flag, Namespace, Endpoint, Interface, File...).
`candidates(fits, inv)` dispatches each suggestion by its type to a matcher over an `Inventory`, as
pgcli's completer dispatches sqlcompletion's types: a snapshot of the lab taken after commands that
change it — never on a keystroke — so completing stays far under 10 ms even with 1,000
interfaces.  `LabCompleter` is the prompt_toolkit face.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kernel.netns import HOST
from ..lang import commands
from ..lang.lexer import BLANKS, current_line
from ..lang.suggestions import (
    Address,
    AddressOf,
    Bridge,
    CommandName,
    Container,
    Destination,
    Endpoint,
    File,
    Fits,
    Flag,
    Interface,
    Keyword,
    Namespace,
    NewName,
    Value,
    fits,
)

if TYPE_CHECKING:
    from ..engine.session import Session as Lab

__all__ = ["Candidate", "Fits", "Iface", "Inventory", "LabCompleter", "bundled_names", "candidates", "complete",
           "fits", "read_containers", "read_inventory", "wants_containers"]

# -- the lab, as completion sees it -----------------------------------------


@dataclass(frozen=True)
class Iface:
    name: str
    desc: str  # "veth, up, 10.0.0.1/24"
    kind: str


@dataclass
class Inventory:
    """A snapshot of the lab for completion and the toolbar."""

    namespaces: dict[str, str] = field(default_factory=dict)  # name -> description
    links: dict[str, list[Iface]] = field(default_factory=dict)  # ns -> interfaces
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (address, "ns1:eth0")
    containers: list[tuple[str, str]] = field(default_factory=list)  # (name, description)

    @property
    def counts(self) -> tuple[int, int, int]:
        links = sum(1 for v in self.links.values() for x in v if x.kind != "loopback")
        bridges = sum(1 for v in self.links.values() for x in v if x.kind == "bridge")
        return len(self.namespaces), links, bridges


def read_inventory(lab: "Lab") -> Inventory:
    """One link and address dump per namespace; no peers (they cost a netnsid query each)."""
    from ..kernel import inventory

    inv = Inventory()
    names = [HOST, *lab.nss.names()]
    for ns in names:
        try:
            items = inventory.links(lab.nss.get(ns))
        except Exception:  # a namespace going away under us: leave it out
            continue
        inv.links[ns] = [Iface(x.name, _describe(x), x.kind) for x in items]
        n_if = sum(1 for x in items if x.kind != "loopback")
        if ns != HOST:
            inv.namespaces[ns] = f"namespace, {n_if} interface{'s' if n_if != 1 else ''}"
        for x in items:
            if x.kind == "loopback":
                continue
            for cidr in x.addrs:
                inv.addresses.append((cidr.split("/")[0], f"{ns}:{x.name}"))
    return inv


def _describe(link: Any) -> str:
    bits = [link.kind, "up" if link.up else "down", *link.addrs]
    if link.master:
        bits.append(f"on {link.master}")
    return ", ".join(bits)


def read_containers() -> list[tuple[str, str]]:
    """Running containers, or none at once when no engine is there (never blocks typing)."""
    from ..services import docker as containers

    if not containers.engine_reachable():
        return []
    try:
        return [(c.name, f"container, pid {c.pid}") for c in containers.running()]
    except Exception:
        return []


# -- candidates -------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    text: str  # what replaces the partial word
    desc: str
    display: str = ""  # when it differs from text


def _ifaces(inv: Inventory, ns: str, prefix: str = "") -> Iterable[Candidate]:
    for x in inv.links.get(ns, ()):
        yield Candidate(prefix + x.name, x.desc, x.name if prefix else "")


def _ns_names(inv: Inventory, with_host: bool = False) -> Iterable[Candidate]:
    if with_host:
        yield Candidate(HOST, "the lab's root namespace")
    for name, desc in inv.namespaces.items():
        yield Candidate(name, desc)


def _keyword(want: Keyword, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [Candidate(want.word, want.help)]


def _flag(want: Flag, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [Candidate(want.flag, want.help)]


def _nothing(want: Any, word: str, inv: Inventory) -> Iterable[Candidate]:
    return []


def _namespaces(want: Namespace, word: str, inv: Inventory) -> Iterable[Candidate]:
    return _ns_names(inv, with_host=want.with_host)


def _endpoints(want: Endpoint, word: str, inv: Inventory) -> Iterable[Candidate]:
    if ":" in word:
        ns = word.split(":", 1)[0]
        yield from _ifaces(inv, ns, ns + ":")
        return
    for c in _ifaces(inv, want.ns):
        if want.bridge is None or (c.text != want.bridge and not c.desc.endswith(f"on {want.bridge}")):
            yield c
    if want.bare_ns:
        for name, desc in inv.namespaces.items():
            yield Candidate(name, f"{desc} (first free ethN)")
    for name in (HOST, *inv.namespaces):
        yield Candidate(name + ":", f"an interface in {name}")


def _interfaces(want: Interface, word: str, inv: Inventory) -> Iterable[Candidate]:
    return _ifaces(inv, want.ns)


def _bridges(want: Bridge, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [c for c in _ifaces(inv, want.ns) if "bridge" in c.desc.split(",")[0]]


def _addresses(want: Address, word: str, inv: Inventory) -> Iterable[Candidate]:
    own = [Candidate(a, where) for a, where in inv.addresses]
    return own + (list(_ns_names(inv)) if want.namespaces else [])


def _destinations(want: Destination, word: str, inv: Inventory) -> Iterable[Candidate]:
    nets = {str(ipaddress.ip_interface(f"{a}/24").network) for a, _ in inv.addresses if ":" not in a}
    return [Candidate("default", "the default route"), *(Candidate(n, "a network") for n in sorted(nets))]


def _addresses_of(want: AddressOf, word: str, inv: Inventory) -> Iterable[Candidate]:
    ns, _, ifname = want.ep.rpartition(":")
    for x in inv.links.get(ns or want.ns, ()):
        if x.name == ifname:
            return [Candidate(c, "an address of " + want.ep) for c in x.desc.split(", ") if "/" in c]
    return []


def _containers(want: Container, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [Candidate(n, d) for n, d in inv.containers]


def _command_names(want: CommandName, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [Candidate(c.name, c.summary) for c in commands.TABLE]


def _file_names(want: File, word: str, inv: Inventory) -> Iterable[Candidate]:
    return [*_files(word), *(bundled_names() if want.labs else ())]


@functools.lru_cache(maxsize=1)
def bundled_names() -> tuple[Candidate, ...]:
    """The bundled labs and exercises by the names `source`, `check` and `nslab run` resolve."""
    from ..lang.bundled import bundled_dir, bundled_labs

    labs = [Candidate(name, f"bundled lab: {title}" if title else "bundled lab") for name, title in bundled_labs()]
    exercises = [Candidate(f"exercises/{p.stem}", "bundled exercise")
                 for p in sorted((bundled_dir() / "exercises").glob("*.lab")) if not p.stem.endswith(".solution")]
    return (*labs, *exercises)


def wants_containers(f: Fits) -> bool:
    """Whether a container's name fits here: the face reads the engine afresh for a Tab."""
    return any(isinstance(w, Container) for w in f.wants)


# each suggestion type to the matcher that lists what fits it (pgcli's suggestion_matchers)
MATCHERS: dict[type, Callable[[Any, str, Inventory], Iterable[Candidate]]] = {
    Keyword: _keyword, Flag: _flag, NewName: _nothing, Value: _nothing, Namespace: _namespaces,
    Endpoint: _endpoints, Interface: _interfaces, Bridge: _bridges, Address: _addresses,
    Destination: _destinations, AddressOf: _addresses_of, Container: _containers,
    CommandName: _command_names, File: _file_names,
}


def candidates(f: Fits, inv: Inventory) -> list[Candidate]:
    out: list[Candidate] = []
    for want in dict.fromkeys(f.wants):  # several forms may ask for the same thing (`link EP ...` has six)
        out.extend(MATCHERS[type(want)](want, f.value, inv))
    seen: set[str] = set()
    keep = []
    for c in out:
        if c.text.startswith(f.value) and c.text not in seen:
            seen.add(c.text)
            keep.append(_as_typed(c, f))
    return keep


def _as_typed(c: Candidate, f: Fits) -> Candidate:
    """The candidate as it replaces f.word: what the word still lacks, quoted as the word is."""
    if f.word == f.value and not f.quote:
        return c
    rest = c.text[len(f.value):]
    if f.quote == "'":
        rest = rest.replace("'", "'\\''")
    elif f.quote == '"':
        rest = rest.replace("\\", "\\\\").replace('"', '\\"')
    else:
        rest = "".join("\\" + ch if ch in BLANKS or ch in "'\"\\" else ch for ch in rest)
    close = f.quote if f.quote and not c.text.endswith("/") else ""
    return Candidate(f.word + rest + close, c.desc, c.display or c.text)


def _files(word: str) -> list[Candidate]:
    head, _, _ = word.rpartition("/")
    where = os.path.expanduser(head or ".") if head or not word.startswith("/") else "/"
    prefix = head + "/" if head else ""
    out = []
    try:
        with os.scandir(where) as it:
            for e in it:
                if e.name.startswith(".") and not word.rpartition("/")[2].startswith("."):
                    continue
                if e.is_dir():
                    out.append(Candidate(prefix + e.name + "/", "directory"))
                else:
                    out.append(Candidate(prefix + e.name, "lab file" if e.name.endswith(".lab") else "file"))
    except OSError:
        return []
    out.sort(key=lambda c: (not c.text.endswith((".lab", "/")), c.text))
    return out


def complete(text: str, context: str, inv: Inventory) -> list[Candidate]:
    """The whole path for one keystroke: what fits, then what in the lab matches."""
    return candidates(fits(text, context), inv)


# -- prompt_toolkit ---------------------------------------------------------


class LabCompleter:
    """A prompt_toolkit Completer over a callable returning (context, Inventory)."""

    def __new__(cls, source: Callable[[], tuple[str, Inventory]],
                containers_wanted: Callable[[], None] | None = None) -> Any:
        """CONTAINERS_WANTED is told when a container's name fits (the face re-reads the engine
        off the keystroke, for the next one)."""
        from prompt_toolkit.completion import Completer, Completion

        class _Completer(Completer):
            def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
                context, inv = source()
                f = fits(current_line(document.text_before_cursor), context)
                if containers_wanted is not None and wants_containers(f):
                    containers_wanted()
                for c in candidates(f, inv):
                    yield Completion(c.text, start_position=-len(f.word), display=c.display or None,
                                     display_meta=c.desc)

        return _Completer()
