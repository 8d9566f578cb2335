"""`export networkd DIR`: each machine of the lab as systemd-networkd files, DIR/NS/, for machines
without netplan: a `.netdev` for each bridge and vxlan the lab made, a `.network` for each
interface (its addresses, routes, bridge, MTU).

The keys are the ones netplan's own generator writes for the same lab (tests compare them), so
moving a machine from one to the other changes nothing it runs.  What networkd has no key for
is a comment naming the journal line it came from, as in the netplan files.
"""

from __future__ import annotations

from ..kernel.inventory import Link
from ..kernel.labstate import ETH_MTU
from ..ops.shell_words import comment_text
from .export_machines import FORWARDING, Machine, Origins, a_kind, route_text
from .export_netplan import on_link

HEADER = ("# Written by nslab: {what} of the machine {ns!r} of the lab.\n"
          "# On that machine: copy it to /etc/systemd/network/, then `networkctl reload`.\n")


def _note(text: str) -> str:
    return f"# {text}\n" if text else ""


def _network(m: Machine, link: Link, origins: Origins, stacked_on: list[tuple[str, str]]) -> str:
    out = [HEADER.format(what=f"interface {comment_text(link.name)}", ns=comment_text(m.ns))]
    out.append(f"[Match]\nName={link.name}\n")
    keys = [f"MTUBytes={link.mtu}"] if link.mtu and link.mtu != ETH_MTU and link.kind != "bridge" else []
    keys += [f"MACAddress={link.mac}"] if m.mac_set(link) else []
    if keys:
        out.append("[Link]\n" + "\n".join(keys) + "\n")
    if not link.up:
        out.append("# down in the lab: networkd brings it up (ActivationPolicy=manual leaves that to you)\n")
    net = [f"LinkLocalAddressing={'no' if link.master else 'ipv6'}"]
    for a in link.addrs:
        net.append(_note(origins.of("addr", m.ns, a)).rstrip("\n"))
        net.append(f"Address={a}")
    if link.master:
        net.append(f"Bridge={link.master}")
    net += [f"{kind}={name}" for kind, name in stacked_on]
    if link.kind in ("bridge", "vxlan"):
        net.append("ConfigureWithoutCarrier=yes")  # as netplan writes a bridge's and a tunnel's
    out.append("[Network]\n" + "\n".join(x for x in net if x) + "\n")
    for r in (r for r in m.routes if r.dev == link.name):
        dst = r.dst if r.dst != "default" else ("::/0" if r.family == 10 else "0.0.0.0/0")
        lines = [_note(origins.of("route", m.ns, r.dst)).rstrip("\n"), "[Route]", f"Destination={dst}"]
        if r.gw:
            lines.append(f"Gateway={r.gw}")
            if on_link(link, r.gw):
                lines.append("GatewayOnLink=true")
        else:
            lines.append("Scope=link")
        out.append("\n".join(x for x in lines if x) + "\n")
    return "\n".join(out)


def _netdev(m: Machine, link: Link) -> str | None:
    head = HEADER.format(what=f"the {link.kind} {comment_text(link.name)}", ns=comment_text(m.ns))
    mtu = f"MTUBytes={link.mtu}\n" if link.mtu and link.mtu != ETH_MTU else ""
    if link.kind == "bridge":
        return f"{head}[NetDev]\nName={link.name}\nKind=bridge\n{mtu}"
    op = m.stacked.get(link.name)
    if link.kind == "vxlan" and op is not None and op.get("remote"):
        port = f"DestinationPort={op['port']}\n" if op.get("port") else ""
        return f"{head}[NetDev]\nName={link.name}\nKind=vxlan\n{mtu}\n[VXLAN]\nVNI={op['vni']}\nRemote={op['remote']}\n{port}"
    if link.kind == "macvlan" and op is not None:
        return f"{head}[NetDev]\nName={link.name}\nKind=macvlan\n{mtu}\n[MACVLAN]\nMode={op['mode']}\n"
    return None


def machine_files(m: Machine, origins: Origins) -> dict[str, str]:
    out: dict[str, str] = {}
    notes: list[str] = []
    written = []
    for link in m.links:
        netdev = _netdev(m, link)
        if netdev is not None:
            out[f"10-nslab-{link.name}.netdev"] = netdev
        if link.kind in ("veth", "bridge") or netdev is not None or m.container:
            written.append(link)
        else:
            notes.append(f"# {comment_text(link.name)}: {a_kind(comment_text(link.kind))}, which these files do not make")
    for link in written:
        on = [("VXLAN" if m.stacked[x.name]["op"] == "vxlan" else "MACVLAN", x.name)
              for x in written if x.name in m.stacked and link.name in (m.stacked[x.name].get("dev"), m.stacked[x.name].get("link"))]
        out[f"10-nslab-{link.name}.network"] = _network(m, link, origins, on)
    names = {x.name for x in written}
    notes += [f"# route {comment_text(route_text(r))}: not out of an interface these files write" for r in m.routes if r.dev not in names]
    notes += [f"# lo: address {a} (an Address= in a .network matching lo)" for a in m.loopback]
    for key, value in m.sysctls.items():
        why = "forwarding: IPForward= is gone from newer networkd" if key in FORWARDING else "a sysctl"
        also = origins.of("sysctl", m.ns, key)
        notes.append(f"# {comment_text(key)} = {comment_text(value)} ({why}); put it in /etc/sysctl.d/50-nslab.conf"
                     + (f"; {also}" if also else ""))
    if notes:  # a file networkd ignores (not .network/.netdev/.link): what the others could not say
        out["README.nslab"] = HEADER.format(what="what the other files leave out", ns=comment_text(m.ns)) + "\n".join(notes) + "\n"
    return out


def files(machines: list[Machine], origins: Origins) -> dict[str, dict[str, str]]:
    """Namespace -> {file name: text}."""
    return {m.ns: machine_files(m, origins) for m in machines}
