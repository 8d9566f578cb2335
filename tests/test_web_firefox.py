"""The page in Debian's Firefox ESR, headless, driven by Marionette (marionette-driver): its own
profile in a temporary directory, a free Marionette port, stopped by its PID, no process left.
What it drew is read back through cytoscape's own API, as in Chromium (tests/test_web_browser.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace
from test_web import Served
from test_web_browser import LAB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_session(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "-s", str(sid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@pytest.fixture
def firefox(tmp_path):
    from marionette_driver.marionette import Marionette

    port = free_port()
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "user.js").write_text(f'user_pref("marionette.port", {port});\n'
                                     'user_pref("browser.shell.checkDefaultBrowser", false);\n')
    # a session of its own: its content processes are found by it at the end
    proc = subprocess.Popen(["firefox-esr", "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, HOME=str(tmp_path), MOZ_CRASHREPORTER_DISABLE="1"))
    m = None
    try:
        m = Marionette(host="127.0.0.1", port=port, socket_timeout=30, startup_timeout=60)
        m.start_session()
        yield m
    finally:
        if m is not None and m.session_id is not None:
            m.delete_session()
        proc.terminate()
        proc.wait(20)
        end = time.monotonic() + 15  # its content processes leave once they see the main one gone
        while (left := in_session(proc.pid)) and time.monotonic() < end:
            time.sleep(0.1)
        for pid in left:  # content processes the main one did not take down: ours, by PID
            os.kill(pid, 9)
        assert left == [], f"firefox left processes {left}"
        assert in_session(proc.pid) == []


# sandbox=None: the page's own global (the default sandbox sees window through Xray wrappers,
# without what the page's scripts put on it, such as window.cy)
def until(m, script: str, timeout: float = 5.0):
    end = time.monotonic() + timeout
    while not (got := m.execute_script(script, sandbox=None)):
        assert time.monotonic() < end, f"not true in {timeout} s: {script}"
        time.sleep(0.02)
    return got


def test_the_page_draws_the_lab_and_follows_it_in_firefox(firefox, loopback_up):  # noqa: F811
    served = Served()
    try:
        for line in LAB:
            served.step(line)
        firefox.navigate(f"http://{served.url.netloc}/?token={served.token}")
        until(firefox, "return !!window.cy && cy.nodes('.if').length >= 5")
        # errors from now on: the page is loaded (window.cy is set near the end of page.js, the rates' stream after)
        firefox.execute_script(sandbox=None, script="""window.__errors = [];
            window.addEventListener('error', e => window.__errors.push(String(e.message)));
            window.addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));""")
        seen = firefox.execute_script(sandbox=None, script="""return {
            nodes: cy.nodes('.if').map(n => [n.id(), n.data('colour'), n.data('label')]),
            groups: cy.nodes('.ns').map(n => n.id()),
            cables: cy.edges('.cable').map(e => [e.source().id(), e.target().id()].sort()),
            bridges: cy.nodes('.bridge').map(n => n.id()),
            agent: navigator.userAgent}""")
        assert "Firefox/" in seen["agent"]
        assert set(seen["groups"]) == {"ns:host", "ns:a", "ns:b"}
        # the oracle: the lab's cables as iproute2 sees them (the veth peers of a's interfaces)
        peers = {x["ifname"]: x for x in served.ip_j("a", "link", "show")}
        assert peers["eth0"]["link_type"] == "ether" and "link_netnsid" in peers["eth0"]
        assert sorted(seen["cables"]) == [["a:eth0", "b:eth0"], ["a:eth1", "host:p1"]]
        assert seen["bridges"] == ["host:br0"]
        labels = {n[0]: n[2] for n in seen["nodes"]}
        addr = {a["local"] for a in served.ip_j("a", "addr", "show", "eth0")[0]["addr_info"] if a["family"] == "inet"}
        assert addr == {"10.9.0.1"} and "10.9.0.1/24" in labels["a:eth0"]
        colour = {n[0]: n[1] for n in seen["nodes"]}["a:eth0"]
        served.step("link a:eth0 down")
        assert served.ip_j("a", "link", "show", "eth0")[0]["operstate"] == "DOWN"
        until(firefox, "return cy.getElementById('a:eth0').data('state') === 'down'", 2)
        assert firefox.execute_script("return cy.getElementById('a:eth0').data('colour')", sandbox=None) != colour
        served.step("ns add c")
        until(firefox, "return cy.getElementById('ns:c').length === 1", 2)
        assert firefox.execute_script("return window.__errors", sandbox=None) == []
    finally:
        served.close()
