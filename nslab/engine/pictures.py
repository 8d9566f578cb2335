"""Static pictures of a Topology (engine/topology.py): Graphviz dot, mermaid, and SVG.

The SVG is drawn here, not by Graphviz: nslab needs no program installed to draw a slide,
and its layout is fixed by the lab's order (a namespace added later goes after the others
and moves none of them), as the web page's is.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from .topology import BRIDGES, Interface, Topology

COLOURS = {"up": "#2e7d32", "down": "#c62828", "nocarrier": "#ef6c00"}


def _label(x: Interface) -> str:
    return "\n".join([x.name, *x.addrs])


# -- Graphviz dot -----------------------------------------------------------------------

def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_text(topo: Topology) -> str:
    out = ["graph lab {", "  graph [rankdir=LR, fontname=\"Helvetica\"];", "  node [fontname=\"Helvetica\"];"]
    for i, ns in enumerate(topo.namespaces):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={_dq(ns.name + (' (context)' if ns.context else ''))};")
        if ns.context:
            out.append("    penwidth=3;")
        for x in ns.interfaces:
            shape = "box3d" if x.kind in BRIDGES else "box"
            out.append(f"    {_dq(x.key)} [label={_dq(_label(x))}, shape={shape}, color={_dq(COLOURS[x.state])}];")
        out.append("  }")
    for a, b in topo.cables:
        out.append(f"  {_dq(a)} -- {_dq(b)};")
    for port, bridge in topo.ports:
        out.append(f"  {_dq(port)} -- {_dq(bridge)} [style=dashed];")
    out.append("}")
    return "\n".join(out) + "\n"


# -- mermaid ---------------------------------------------------------------------------

def _mid(key: str) -> str:
    """A mermaid node id: letters, digits and _ only (a name may hold `.`, `-` or `@`)."""
    return "n_" + re.sub(r"[^A-Za-z0-9]", lambda m: f"_{ord(m.group()):x}_", key)


def _mq(text: str) -> str:
    return '"' + escape(text).replace('"', "#quot;").replace("\n", "<br/>") + '"'


def mermaid_text(topo: Topology) -> str:
    out = ["flowchart LR"]
    for ns in topo.namespaces:
        out.append(f"  subgraph {_mid('ns:' + ns.name)}[{_mq(ns.name)}]")
        for x in ns.interfaces:
            shape = ("{{", "}}") if x.kind in BRIDGES else ("[", "]")
            out.append(f"    {_mid(x.key)}{shape[0]}{_mq(_label(x))}{shape[1]}")
        out.append("  end")
    for a, b in topo.cables:
        out.append(f"  {_mid(a)} --- {_mid(b)}")
    for port, bridge in topo.ports:
        out.append(f"  {_mid(port)} -.- {_mid(bridge)}")
    for ns in topo.namespaces:
        for x in ns.interfaces:
            out.append(f"  style {_mid(x.key)} stroke:{COLOURS[x.state]}")
        if ns.context:
            out.append(f"  style {_mid('ns:' + ns.name)} stroke-width:3px")
    return "\n".join(out) + "\n"


# -- SVG ---------------------------------------------------------------------------------

COLUMNS = 3
IF_W, IF_H, LINE = 170, 22, 14
NS_W, PAD, HEAD = 200, 20, 26


def _if_height(x: Interface) -> int:
    return IF_H + LINE * len(x.addrs)


def svg_text(topo: Topology) -> str:
    """Namespaces in rows of three, in the lab's order (the order it first had them: their slots, which the web
    page places by too); interfaces stacked in each; cables drawn last."""
    centres: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    ordered = sorted(topo.namespaces, key=lambda ns: ns.slot)
    rows = [ordered[i:i + COLUMNS] for i in range(0, len(ordered), COLUMNS)]
    y = PAD
    for row in rows:
        height = max(HEAD + PAD + sum(_if_height(x) + 8 for x in ns.interfaces) for ns in row)
        for col, ns in enumerate(row):
            x0 = PAD + col * (NS_W + 3 * PAD)
            width = 4 if ns.context else 1.5
            boxes.append(f'<g class="namespace" data-name={quoteattr(ns.name)}>'
                         f'<rect x="{x0}" y="{y}" width="{NS_W}" height="{height}" rx="8" fill="#f5f7fa" '
                         f'stroke="#37474f" stroke-width="{width}"/>'
                         f'<text x="{x0 + 10}" y="{y + 18}" font-weight="bold">{escape(ns.name)}</text></g>')
            iy = y + HEAD
            for x in ns.interfaces:
                h = _if_height(x)
                rx = 12 if x.kind in BRIDGES else 3
                lines = "".join(f'<tspan x="{x0 + 25}" dy="{LINE if i else 0}">{escape(t)}</tspan>'
                                for i, t in enumerate(_label(x).split("\n")))
                boxes.append(f'<g class="{"bridge" if x.kind in BRIDGES else "interface"}" data-key={quoteattr(x.key)}>'
                             f'<rect x="{x0 + 15}" y="{iy}" width="{IF_W}" height="{h}" rx="{rx}" fill="white" '
                             f'stroke="{COLOURS[x.state]}" stroke-width="2"/>'
                             f'<text x="{x0 + 25}" y="{iy + 15}">{lines}</text></g>')
                centres[x.key] = (x0 + 15 + IF_W, iy + IF_H / 2)
                iy += h + 8
        y += height + 2 * PAD
    wires = []
    for a, b in topo.cables:
        (ax, ay), (bx, by) = centres[a], centres[b]
        wires.append(f'<line class="cable" x1="{ax}" y1="{ay}" x2="{bx - IF_W}" y2="{by}" stroke="#455a64" stroke-width="2"/>')
    for port, bridge in topo.ports:
        if port in centres and bridge in centres:
            (px, py), (bx, by) = centres[port], centres[bridge]
            wires.append(f'<path class="port" d="M{px} {py} C{px + 30} {py} {bx + 30} {by} {bx} {by}" fill="none" '
                         f'stroke="#6a1b9a" stroke-dasharray="4 3"/>')
    width = PAD + COLUMNS * (NS_W + 3 * PAD)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
            'font-family="Helvetica, sans-serif" font-size="12">\n<title>nslab lab</title>\n'
            + "\n".join(boxes + wires) + "\n</svg>\n")
