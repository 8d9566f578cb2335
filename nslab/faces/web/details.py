"""What a click on the page shows: GET /api/ns/{ns} (routes, forwarding) and /api/if/{ns}/{ifname}
(addresses, counters, neighbours), JSON, behind the server's token and Host guard.

They run on the server's thread, which must not use the lab's sockets (they belong to the lab's
thread, and share its receive buffer): each request opens the namespace by its path (the lab's host
by a descriptor of its own, taken as the server starts) and a netlink socket of its own inside it
(rtnl.open_in on this thread), reads it with the readers `show`, `neigh ls` and `link ls --stats`
use (kernel/inventory.py, kernel/learned.py), and closes both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...kernel import inventory, learned, sysns
from ...kernel.netns import HOST, Netns
from ...lang.kinds import check_ifname, check_ns

FORWARDING = {"ipv4": "net/ipv4/ip_forward", "ipv6": "net/ipv6/conf/all/forwarding"}


class MissingError(Exception):
    """A name the lab does not have: 404, with these words."""


class Reader:
    """The lab's namespaces, opened afresh on the server's thread for each request."""

    def __init__(self, lab: Any, state: Callable[[], str | None] = lambda: None) -> None:
        # taken while the lab's thread waits for the server to start (WebView.__init__)
        self.run_dir = lab.nss.run_dir
        self.names: Callable[[], list[str]] = lab.nss.names  # a listing of run_dir: no socket, no lab state
        self.host_fd = os.open(lab.host_ns_path, os.O_RDONLY | os.O_CLOEXEC)
        self.state = state  # the snapshot last sent (JSON text), read on this thread
        self._drawn: tuple[str | None, dict[str, list[str]] | None] = (None, None)  # owners of that snapshot's MACs

    def close(self) -> None:
        os.close(self.host_fd)

    @contextmanager
    def opened(self, name: str) -> Iterator[Netns]:
        if name != HOST:
            try:
                check_ns(name)
            except ValueError:
                raise MissingError(f"no namespace {name!r} in the lab") from None
        try:
            fd = os.dup(self.host_fd) if name == HOST else os.open(os.path.join(self.run_dir, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            raise MissingError(f"no namespace {name!r} in the lab") from None
        ns = Netns(name, fd, watch=False)  # its socket is opened inside it, on this thread, on first use
        try:
            yield ns
        finally:
            ns.close()

    def namespace(self, name: str) -> dict[str, Any]:
        with self.opened(name) as ns:
            links = inventory.links(ns, with_addrs=False)
            routes = inventory.routes(ns, {x.index: x.name for x in links})
            forwarding = {family: _sysctl(ns.fd, key) for family, key in FORWARDING.items()}
        return {"ns": name, "forwarding": forwarding, "interfaces": [x.name for x in links],
                "routes": [{"dst": r.dst, "via": r.gw, "dev": r.dev, "family": 6 if r.family == 10 else 4,
                            "kernel": r.kernel_made} for r in routes]}

    def interface(self, name: str, ifname: str) -> dict[str, Any]:
        gone = MissingError(f"no interface {ifname!r} in {name}")
        try:
            check_ifname(ifname)
        except ValueError:
            raise gone from None
        with self.opened(name) as ns:
            link = next((x for x in inventory.links(ns) if x.name == ifname), None)
            if link is None:
                raise gone
            local = inventory.link_local(ns).get(ifname, [])
            stats = next((c.stats for c in learned.counters(ns.nl) if c.index == link.index), None)
            neighbours = [n for n in learned.neighbours(ns.nl) if n.index == link.index]
        owners = self.owners() if neighbours else {}
        return {
            "ns": name, "name": link.name, "kind": link.kind, "up": link.up, "operstate": link.operstate,
            "mac": link.mac, "mtu": link.mtu, "master": link.master, "addrs": link.addrs, "link_local": local,
            "counters": vars(stats) if stats is not None else None,
            "neighbours": [{"address": n.dst, "mac": n.mac, "state": " ".join(n.states), "owner": owners.get(n.mac, [])}
                           for n in neighbours],
        }

    def owners(self) -> dict[str, list[str]]:
        """Each MAC the lab's interfaces carry, with their NS:IF: from the picture last sent (every interface
        with its MAC, as the lab read it after its last step), else read namespace by namespace (learned.owners;
        0.17 s for a 200-namespace star, which would hold up every page's stream)."""
        state = self.state()
        if state is not None and state is not self._drawn[0]:
            try:
                self._drawn = (state, _owners_drawn(json.loads(state)))
            except (ValueError, KeyError, TypeError):
                self._drawn = (state, None)
        if state is not None and self._drawn[1] is not None:
            return self._drawn[1]
        by_ns = {}
        for name in [HOST, *self.names()]:
            try:
                with self.opened(name) as ns:
                    by_ns[name] = inventory.links(ns, with_addrs=False)
            except (MissingError, OSError):
                continue  # gone since it was listed, or a container's that stopped
        return learned.owners(by_ns)


def _owners_drawn(drawn: dict[str, Any]) -> dict[str, list[str]]:
    """learned.owners over the snapshot's interfaces (topology.as_json): MAC -> the NS:IF carrying it."""
    out: dict[str, list[str]] = {}
    for ns in drawn["namespaces"]:
        for x in ns["interfaces"]:
            if x.get("mac"):
                out.setdefault(x["mac"], []).append(f"{ns['name']}:{x['name']}")
    return out


def _sysctl(fd: int, key: str) -> bool | None:
    """On or off in the namespace: /proc/sys/net is the one of the thread that opens the file."""
    try:
        with sysns.entered(fd), open("/proc/sys/" + key) as f:
            return f.read().strip() != "0"
    except OSError:
        return None


def add_routes(app: Any, view: Any) -> None:
    """Called by the server (WebView._run, on its thread, before it serves): the two endpoints."""
    from aiohttp import web

    reader = Reader(view.lab, lambda: getattr(view, "state", None))

    def answer(read: Callable[[], dict[str, Any]]) -> Any:
        try:
            return web.json_response(read())
        except MissingError as e:
            return web.json_response({"error": str(e)}, status=404)
        except OSError as e:  # the kernel's refusal, or the namespace went while it was read
            return web.json_response({"error": e.strerror or str(e)}, status=404)

    async def ns(request: web.Request) -> web.StreamResponse:
        return answer(lambda: reader.namespace(request.match_info["ns"]))

    async def interface(request: web.Request) -> web.StreamResponse:
        return answer(lambda: reader.interface(request.match_info["ns"], request.match_info["ifname"]))

    async def close(app: Any) -> None:
        reader.close()

    app.router.add_get("/api/ns/{ns}", ns)
    app.router.add_get("/api/if/{ns}/{ifname}", interface)
    app.on_cleanup.append(close)
