"""Static pictures (`show --svg`, `export dot`, `export mermaid`) of the bundled labs: judged
against `ip -j` dumps of the lab (not nslab's own reading), by xml.etree and Graphviz's `dot`."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ip_j
from test_labs import SOLUTIONS, TUTORIAL, run_all

from nslab.lab import Lab

SVG = "{http://www.w3.org/2000/svg}"


def oracle(lab: Lab) -> dict[str, dict[str, str]]:
    """Every namespace of the lab and its interfaces (lo left out) with their kinds, by `ip -j`."""
    names = ["host", *sorted(x["name"] for x in _netns_list())]
    return {ns: {x["ifname"]: x.get("linkinfo", {}).get("info_kind", "")
                 for x in ip_j(lab, ns, "-d", "link", "show") if x["ifname"] != "lo"}
            for ns in names}


def _netns_list() -> list[dict]:
    import json

    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def draw(lab: Lab, tmp_path: Path, kind: str) -> str:
    path = tmp_path / f"lab.{kind}"
    line = f"show --svg {path}" if kind == "svg" else f"export {kind} {path}"
    out = lab.run(line)
    assert out.ok, out.error
    return path.read_text()


@pytest.mark.parametrize("path", TUTORIAL + SOLUTIONS, ids=lambda p: p.name)
def test_svg_names_every_namespace_interface_and_bridge(lab: Lab, tmp_path: Path, path: Path):
    run_all(lab, path)
    root = ET.fromstring(draw(lab, tmp_path, "svg"))
    assert root.tag == f"{SVG}svg"
    groups = root.iter(f"{SVG}g")
    drawn = {(g.get("class"), g.get("data-name") or g.get("data-key")): "".join(g.itertext()) for g in groups}
    want = oracle(lab)
    assert {n for c, n in drawn if c == "namespace"} == set(want)
    for ns, links in want.items():
        assert ns in drawn[("namespace", ns)]
        for name, kind in links.items():
            cls = "bridge" if kind in ("bridge", "openvswitch") else "interface"
            assert name in drawn[(cls, f"{ns}:{name}")], (ns, name, kind)
    assert sum(1 for c, _ in drawn if c in ("interface", "bridge")) == sum(len(v) for v in want.values())


def veth_pairs(lab: Lab) -> set[frozenset[str]]:
    """The veth pairs, by ifindex and link_index within the lab (a peer's netns id says it is elsewhere)."""
    ends: dict[tuple[int, int], str] = {}
    every = oracle(lab)
    info = {ns: ip_j(lab, ns, "-d", "link", "show") for ns in every}
    pairs = set()
    for ns, links in info.items():
        for x in links:
            if x.get("linkinfo", {}).get("info_kind") == "veth":
                ends[(x["ifindex"], x.get("link_index", 0))] = f"{ns}:{x['ifname']}"
    for (index, peer), key in ends.items():
        others = [k for (i, p), k in ends.items() if i == peer and p == index and k != key]
        if len(others) == 1:
            pairs.add(frozenset((key, others[0])))
    return pairs


def test_dot_has_every_cable_and_graphviz_accepts_it(lab: Lab, tmp_path: Path):
    run_all(lab, TUTORIAL[3])  # 04-bridge: a bridge, its ports and three namespaces
    text = draw(lab, tmp_path, "dot")
    edges = {frozenset(m) for m in re.findall(r'^\s*"([^"]+)" -- "([^"]+)";$', text, re.M)}
    pairs = veth_pairs(lab)
    assert len(pairs) == 3
    assert pairs <= edges
    assert shutil.which("dot"), "graphviz is installed by .ci/run"
    svg = subprocess.run(["dot", "-Tsvg", str(tmp_path / "lab.dot")], capture_output=True, text=True)
    assert svg.returncode == 0, svg.stderr
    titles = {t.text for t in ET.fromstring(svg.stdout).iter(f"{SVG}title")}
    assert {k for p in pairs for k in p} <= titles  # every end became a Graphviz node


def test_mermaid_is_a_flowchart_with_a_subgraph_per_namespace(lab: Lab, tmp_path: Path):
    run_all(lab, TUTORIAL[3])
    text = draw(lab, tmp_path, "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    opened = [x for x in lines if x.strip().startswith("subgraph ")]
    assert len(opened) == sum(1 for x in lines if x.strip() == "end") == len(oracle(lab))
    ids = set(re.findall(r"^\s+(n_\w+)[\[{]", text, re.M))
    for a, b in re.findall(r"^\s+(n_\w+) -(?:--|\.-) (n_\w+)$", text, re.M):
        assert a in ids and b in ids  # an edge joins two declared nodes
    assert all(re.fullmatch(r"n_\w+", i) for i in ids)
    assert len(re.findall(r" --- ", text)) == len(veth_pairs(lab))
    assert '{{"br0' in text  # the bridge drawn as a switch


def test_a_picture_of_a_missing_directory_is_a_clear_error(lab: Lab, tmp_path: Path):
    out = lab.run(f"export dot {tmp_path}/no/such/lab.dot")
    assert not out.ok
    assert "cannot write" in str(out.error)


def test_a_namespace_added_later_moves_none_of_the_others_in_the_svg(lab: Lab, tmp_path: Path):
    def boxes() -> dict[str, tuple[str, str]]:
        root = ET.fromstring(draw(lab, tmp_path, "svg"))
        return {g.get("data-name"): (g.find(f"{SVG}rect").get("x"), g.find(f"{SVG}rect").get("y"))
                for g in root.iter(f"{SVG}g") if g.get("class") == "namespace"}

    for line in ("ns add b d", "veth b d"):
        assert lab.run(line).ok
    before = boxes()
    assert lab.run("ns add a c").ok  # each sorts before one of the others: a sorted picture would move them
    after = boxes()
    assert {k: after[k] for k in before} == before and set(after) == {"host", "a", "b", "c", "d"}
    assert after["a"] not in before.values() and after["c"] not in before.values()
