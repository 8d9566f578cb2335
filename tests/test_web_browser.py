"""The page in a real browser: Debian's Chromium, headless, driven by Playwright, outside the lab.
What it drew is read back through cytoscape's own API and compared with the lab as built."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest
from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace
from test_web import DETAILED, Served, owners_by_ip, sysctl_in
from test_web_cli import WebCli

LAB = ["ns add a b", "veth a b", "addr add a:eth0 10.9.0.1/24", "addr add b:eth0 10.9.0.2/24",
       "link a:eth0 up", "link b:eth0 up", "bridge add br0", "veth p1 a:eth1", "bridge br0 add p1", "link br0 up"]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 800})
        browser.close()


def drawn(page) -> dict:
    return page.evaluate("""() => ({
        nodes: cy.nodes('.if').map(n => [n.id(), n.data('colour'), n.data('label')]),
        groups: cy.nodes('.ns').map(n => n.id()),
        cables: cy.edges('.cable').map(e => [e.source().id(), e.target().id()].sort()),
        bridges: cy.nodes('.bridge').map(n => n.id()),
    })""")


def test_the_page_draws_the_lab_and_follows_it(page, loopback_up):  # noqa: F811
    served = Served()
    errors: list[str] = []
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for line in LAB:
            served.step(line)
        page.goto(f"http://{served.url.netloc}/?token={served.token}")
        page.wait_for_function("() => window.cy && cy.nodes('.if').length >= 5")
        seen = drawn(page)
        assert set(seen["groups"]) == {"ns:host", "ns:a", "ns:b"}
        ids = {n[0] for n in seen["nodes"]}
        assert ids == {"a:eth0", "b:eth0", "a:eth1", "host:p1", "host:br0"}
        assert seen["bridges"] == ["host:br0"]
        assert sorted(seen["cables"]) == [["a:eth0", "b:eth0"], ["a:eth1", "host:p1"]]
        labels = {n[0]: n[2] for n in seen["nodes"]}
        assert "10.9.0.1/24" in labels["a:eth0"] and "10.9.0.2/24" in labels["b:eth0"]
        colour = {n[0]: n[1] for n in seen["nodes"]}["a:eth0"]
        served.step("link a:eth0 down")
        page.wait_for_function("() => cy.getElementById('a:eth0').data('state') === 'down'", timeout=2000)
        assert {n[0]: n[1] for n in drawn(page)["nodes"]}["a:eth0"] != colour
        t0 = time.perf_counter()
        served.step("ns add c")
        page.wait_for_function("() => cy.getElementById('ns:c').length === 1", timeout=2000, polling="raf")
        took = time.perf_counter() - t0
        print(f"a new namespace on the page in {took * 1000:.0f} ms")
        assert took < 0.2
        served.step("link a:eth0 up")
        page.wait_for_function("() => cy.getElementById('a:eth0').data('state') === 'up'", timeout=2000)
        assert errors == []
    finally:
        served.close()


def watched(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def tap(page, node: str) -> None:
    """A click on NODE (cytoscape's own event), then until the details panel shows what the server sent for it."""
    page.evaluate("id => { document.getElementById('details').dataset.shown = ''; cy.getElementById(id).emit('tap'); }", node)
    page.wait_for_function("id => document.getElementById('details').dataset.shown === id", arg=node, timeout=3000)


def rows(page, cls: str) -> list[list[str]]:
    return page.evaluate(f"() => [...document.querySelectorAll('#details table.{cls} tr.row')]"
                         ".map(r => [...r.cells].map(c => c.textContent))")


def test_a_click_shows_the_kernel_s_details(page, loopback_up):  # noqa: F811
    served = Served()
    errors = watched(page)
    try:
        for line in DETAILED:
            served.step(line)
        page.goto(f"http://{served.url.netloc}/?token={served.token}")
        page.wait_for_function("() => window.cy && cy.getElementById('a:eth0').length === 1")
        for _ in range(20):  # a frame may arrive while it is read (ARP probes): judged in a quiet moment
            oracle = served.ip_j("a", "-s", "link", "show", "eth0")[0]["stats64"], served.ip_j("a", "neigh", "show", "dev", "eth0")
            tap(page, "a:eth0")
            shown = {r[0]: r[1:] for r in rows(page, "counters")}, rows(page, "neighbours")
            if oracle == (served.ip_j("a", "-s", "link", "show", "eth0")[0]["stats64"], served.ip_j("a", "neigh", "show", "dev", "eth0")):
                break
        text = page.inner_text("#details")
        assert "10.9.0.1/24" in text and "cable to b:eth0" in text
        stats, neigh = oracle
        for way in ("rx", "tx"):
            assert shown[0][way] == [str(stats[way][k]) for k in ("packets", "bytes", "dropped", "errors")], way
        owners = owners_by_ip(served)
        assert neigh and shown[1] == [[n["dst"], n["lladdr"], " ".join(n["state"]), ", ".join(sorted(owners[n["lladdr"]]))]
                                      for n in neigh]
        # the panel follows the lab: a step's packets reach its counters without another click
        sent = int(shown[0]["tx"][0])
        served.step("a ping -c 1 10.9.0.2")
        page.wait_for_function("n => +document.querySelector('#details table.counters tr.row:nth-of-type(3) td:nth-child(2)')"
                               ".textContent > n", arg=sent, timeout=3000)
        tap(page, "ns:a")
        routes = {(r[0], r[1], r[2]) for r in rows(page, "routes")}
        assert routes == {(r["dst"], r.get("gateway", ""), r["dev"]) for r in served.ip_j("a", "route", "show")}
        on = "on" if sysctl_in(served, "a", "net/ipv4/ip_forward") else "off"
        assert f"forwarding: IPv4 {on}" in page.inner_text("#details") and on == "on"
        assert errors == []
    finally:
        served.close()


def positions(page) -> dict[str, tuple[float, float]]:
    return {k: tuple(v) for k, v in page.evaluate(
        "() => Object.fromEntries(cy.nodes().map(n => [n.id(), [n.position('x'), n.position('y')]]))").items()}


def test_the_picture_keeps_its_places_as_the_lab_grows_and_across_a_reload(page, loopback_up):  # noqa: F811
    served = Served()
    errors = watched(page)
    try:
        for line in LAB:
            served.step(line)
        page.goto(f"http://{served.url.netloc}/?token={served.token}")
        page.wait_for_function("() => window.cy && cy.nodes('.if').length >= 5")
        before = positions(page)
        # `ab` sorts between a and b: a page placing namespaces in the snapshot's (sorted) order would move b
        served.step("ns add ab")
        served.step("veth ab:eth0 ab:eth1")  # its own cable: the other namespaces keep their contents
        page.wait_for_function("() => cy.getElementById('ab:eth0').length === 1", timeout=2000)
        grown = positions(page)
        assert {k: grown[k] for k in before} == before
        assert grown["ns:ab"] not in before.values()
        page.reload()
        page.wait_for_function("() => window.cy && cy.getElementById('ab:eth0').length === 1")
        assert positions(page) == grown
        assert errors == []
    finally:
        served.close()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_a_screenshot_of_the_bridge_lab(page, tmp_path, loopback_up):  # noqa: F811
    """docs/web-view.png: NSLAB_WEB_PNG=docs/web-view.png python3 -m pytest tests/test_web_browser.py -k screenshot"""
    served = WebCli("labs/04-bridge.lab")
    errors = watched(page)
    try:
        assert served.url is not None, "".join(served.said)
        page.goto(f"http://{served.url.netloc}/?token={served.token}")
        page.wait_for_function("() => window.cy && cy.nodes('.if').length === 7")
        seen = drawn(page)
        assert set(seen["groups"]) == {"ns:host", "ns:ns1", "ns:ns2", "ns:ns3"}
        assert seen["bridges"] == ["host:br0"]
        assert sorted(seen["cables"]) == [[f"host:veth{i}", f"ns{i}:eth0"] for i in (1, 2, 3)]
        tap(page, "ns1:eth0")
        assert "192.168.189.33/24" in page.inner_text("#details")
        out = Path(os.environ.get("NSLAB_WEB_PNG") or tmp_path / "web-view.png")
        page.screenshot(path=str(out))
        assert _png_size(out) == (1400, 800)
        assert errors == []
    finally:
        assert served.stop() == 0
