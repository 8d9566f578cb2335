"""The page in a real browser: Debian's Chromium, headless, driven by Playwright, outside the lab.
What it drew is read back through cytoscape's own API and compared with the lab as built."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import ROOT
from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace
from test_web import Served

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
        page.screenshot(path=str(Path(ROOT) / "docs" / "web-view.png"))
        assert errors == []
    finally:
        served.close()
