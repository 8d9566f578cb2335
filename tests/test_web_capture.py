"""The details panel's live capture (/api/capture/NS/IF, faces/web/capture.py), from outside the lab:
over HTTP and in Debian's Chromium.  The packets are iputils ping's, sent inside the lab's namespaces
(nsenter), and judged by the addresses that ping was given; the packet sockets by /proc/net/packet
in the namespace and the lab process's descriptors."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import time

from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace
from test_web import Served, served  # noqa: F401 - served is a fixture
from test_web_browser import page, tap, watched  # noqa: F401 - page is a fixture

PAIR = ["ns add a b", "veth a b", "addr add a:eth0 10.9.0.1/24", "addr add b:eth0 10.9.0.2/24",
        "link a:eth0 up", "link b:eth0 up"]
ECHO = re.compile(r"a:eth0 In .* length \d+: 10\.9\.0\.2 > 10\.9\.0\.1: ICMP echo request")


def in_ns(srv: Served, ns: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(srv.proc.pid), "-m", "--", "nsenter", f"--net=/run/netns/{ns}", *argv],
                          capture_output=True, text=True, check=True, **kw)


def packet_sockets(srv: Served, ns: str) -> int:
    """Packet sockets in NS that the lab's process holds: /proc/net/packet's inodes among its descriptors."""
    rows = in_ns(srv, ns, "cat", "/proc/net/packet").stdout.splitlines()[1:]
    inodes = {row.split()[8] for row in rows}
    fd_dir = f"/proc/{srv.proc.pid}/fd"
    held = set()
    for fd in os.listdir(fd_dir):
        try:
            held.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            continue
    return sum(f"socket:[{i}]" in held for i in inodes)


def wait_for(what, timeout: float = 3.0):
    end = time.monotonic() + timeout
    while not (got := what()) and time.monotonic() < end:
        time.sleep(0.05)
    return got


def stream(srv: Served, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    c = http.client.HTTPConnection(srv.url.hostname, srv.url.port, timeout=5)
    c.request("GET", f"{path}?token={srv.token}", headers={"Host": srv.url.netloc})
    return c, c.getresponse()


def test_a_capture_stream_sends_the_ping_s_lines_and_closes_its_socket(served: Served):  # noqa: F811
    for line in PAIR:
        served.step(line)
    assert packet_sockets(served, "a") == 0
    c, r = stream(served, "/api/capture/a/eth0")
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    assert wait_for(lambda: packet_sockets(served, "a") == 1)
    in_ns(served, "b", "ping", "-c", "3", "-i", "0.2", "10.9.0.1")
    lines, counts = [], None
    end = time.monotonic() + 5
    while time.monotonic() < end and (len([x for x in lines if ECHO.search(x)]) < 3 or counts is None or counts["seen"] < 6):
        frame = r.readline().decode()
        if frame.startswith("data: {"):
            counts = json.loads(frame[6:])
        elif frame.startswith("data: "):
            lines.append(frame[6:].strip())
    assert len([x for x in lines if ECHO.search(x)]) == 3, lines
    assert len([x for x in lines if re.search(r"a:eth0 Out .*10\.9\.0\.1 > 10\.9\.0\.2: ICMP echo reply", x)]) == 3, lines
    assert counts is not None and counts["skipped"] == counts["seen"] - counts["shown"] == 0
    c.close()  # the page goes: the server sees it at its next write (within a second) and closes the socket
    assert wait_for(lambda: packet_sockets(served, "a") == 0)


def test_a_flood_is_capped_at_50_lines_a_second_and_the_rest_counted(served: Served):  # noqa: F811
    for line in PAIR:
        served.step(line)
    c, r = stream(served, "/api/capture/a/eth0")
    assert wait_for(lambda: packet_sockets(served, "a") == 1)
    t0 = time.monotonic()
    in_ns(served, "b", "ping", "-q", "-c", "2000", "-i", "0.0005", "10.9.0.1")  # some 4,000 frames
    lines, counts = 0, None
    while time.monotonic() - t0 < 4 or counts is None or counts["seen"] < 4000:
        frame = r.readline().decode()
        if frame.startswith("data: {"):
            counts = json.loads(frame[6:])
        elif frame.startswith("data: "):
            lines += 1
        assert time.monotonic() - t0 < 20
    took = time.monotonic() - t0
    print(f"{counts['seen']} packets in {took:.1f} s: {lines} lines, {counts['skipped']} skipped")
    assert counts["shown"] <= lines <= 50 * (took + 1)
    assert counts["skipped"] == counts["seen"] - counts["shown"] and counts["skipped"] > 0
    c.close()
    assert wait_for(lambda: packet_sockets(served, "a") == 0)


def test_capture_needs_the_token_names_what_is_missing_and_refuses_a_fifth(served: Served):  # noqa: F811
    for line in PAIR:
        served.step(line)
    assert served.get("/api/capture/a/eth0")[0] == 403
    assert served.get(f"/api/capture/a/eth0?token={served.token}", host=f"evil.example:{served.url.port}")[0] == 403
    for path, words in (("/api/capture/a/nope", "no interface a:nope"), ("/api/capture/zz/eth0", "no namespace 'zz'"),
                        ("/api/capture/a/x%25d", "no interface")):
        status, body = served.get(f"{path}?token={served.token}")
        assert status == 404, path
        assert words in json.loads(body)["error"], (path, body)
    assert packet_sockets(served, "a") == 0
    open_ = [stream(served, "/api/capture/a/eth0") for _ in range(4)]
    assert all(r.status == 200 for _, r in open_)
    status, body = served.get(f"/api/capture/b/eth0?token={served.token}")
    assert status == 429 and "4 captures are open already" in json.loads(body)["error"]
    assert packet_sockets(served, "b") == 0
    for c, _ in open_:
        c.close()
    assert wait_for(lambda: packet_sockets(served, "a") == 0)
    c, r = stream(served, "/api/capture/b/eth0")  # a place again
    assert r.status == 200
    assert wait_for(lambda: packet_sockets(served, "b") == 1)
    t0 = time.monotonic()
    served.close()  # the lab ends: so does the open stream, and the process with it
    assert r.read() is not None and time.monotonic() - t0 < 5
    c.close()


def test_the_panel_captures_a_ping_across_the_tapped_interface(page, loopback_up):  # noqa: F811
    srv = Served()
    errors = watched(page)
    try:
        for line in PAIR:
            srv.step(line)
        page.goto(f"http://{srv.url.netloc}/?token={srv.token}")
        page.wait_for_function("() => window.cy && cy.getElementById('a:eth0').length === 1")
        tap(page, "a:eth0")
        page.click("#capture-start")
        page.wait_for_function("() => document.getElementById('capture').dataset.state === 'open'", timeout=3000)
        assert wait_for(lambda: packet_sockets(srv, "a") == 1)
        in_ns(srv, "b", "ping", "-c", "2", "-i", "0.2", "10.9.0.1")
        # the two echoes, whatever IPv6 chatter (listener reports, DAD) comes between them
        page.wait_for_function("() => [...document.querySelectorAll('#capture .line')].filter(l => "
                               "/10\\.9\\.0\\.2 > 10\\.9\\.0\\.1: ICMP echo request/.test(l.textContent)).length >= 2",
                               timeout=5000)
        shown = page.evaluate("() => [...document.querySelectorAll('#capture .line')].map(l => l.textContent)")
        assert len([x for x in shown if ECHO.search(x)]) == 2, shown
        page.click("#capture-stop")
        assert page.evaluate("() => document.getElementById('capture').dataset.state") == "stopped"
        assert wait_for(lambda: packet_sockets(srv, "a") == 0)
        assert errors == []
    finally:
        srv.close()
