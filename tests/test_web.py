"""The live web view, from outside the lab: an isolated lab's process serves it (faces/web/server.py)
and this test process, in the namespace it was started in, is the browser.  What the page is
sent is judged by `ip -j` run in the lab's namespaces (nsenter), not by nslab."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest
from conftest import ROOT
from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace

from nslab.kernel import isolate

LAB_SIDE = r"""
import sys, time
from nslab.lab import Lab
from nslab.faces.web.server import WebView

def star(lab, prefix, n):  # n namespaces, each on a cable to one bridge: seconds the steps took
    took = 0.0
    for line in [f"bridge add {prefix}br"] + [x for i in range(n) for x in (
            f"ns add {prefix}{i}", f"veth {prefix}v{i} {prefix}{i}:eth0", f"bridge {prefix}br add {prefix}v{i}")]:
        t0 = time.perf_counter()
        assert lab.run(line).ok, line
        took += time.perf_counter() - t0
    for i in range(n):
        lab.run(f"ns del {prefix}{i}")
    lab.run(f"link del {prefix}br")
    return took

with Lab() as lab:
    view = WebView(lab)
    print(view.url, lab.host_ns_path, flush=True)
    for line in sys.stdin:
        if line.startswith("!star "):
            _, prefix, n, serve = line.split()
            if serve == "off":
                view.stop()
            took = star(lab, prefix, int(n))
            print("done True", took, view.cost, flush=True)
            continue
        out = lab.run(line.strip())
        view.flush()
        print("done", out.ok, out.error, flush=True)
    view.stop()
"""


class Served:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop(isolate.MARK, None)
        self.proc = subprocess.Popen([sys.executable, "-c", LAB_SIDE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=ROOT)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        url, self.host_path = self.proc.stdout.readline().split()
        self.url = urllib.parse.urlsplit(url)
        self.token = urllib.parse.parse_qs(self.url.query)["token"][0]

    def step(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        said = self.proc.stdout.readline()
        assert said.startswith("done True"), (line, said)
        return said

    def get(self, path: str, host: str | None = None) -> tuple[int, bytes]:
        c = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=5)
        c.request("GET", path, headers={"Host": host or self.url.netloc})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def ip_j(self, ns: str, *args: str) -> list[dict]:
        """The oracle: iproute2 in the lab's namespace, reached through its process's mounts."""
        pid = str(self.proc.pid)
        argv = (["nsenter", f"--net={self.host_path}", "ip", "-j", *args] if ns == "host"
                else ["nsenter", "-t", pid, "-m", "ip", "-n", ns, "-j", *args])
        return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout or "[]")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=20) == 0


@pytest.fixture
def served():
    s = Served()
    yield s
    s.close()


def test_it_answers_outside_the_lab_only_with_the_token_and_its_own_host(served: Served):
    assert served.url.hostname == "127.0.0.1"
    status, body = served.get(f"/?token={served.token}")
    assert status == 200 and b"cytoscape.min.js" in body
    assert served.get("/")[0] == 403
    assert served.get("/?token=nope")[0] == 403
    assert served.get(f"/api/lab?token={served.token}", host=f"evil.example:{served.url.port}")[0] == 403
    for path in ("/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e%2f%2e%2e%2fsetup.cfg",
                 "/static/server.py", "/../../etc/passwd"):
        status, body = served.get(f"{path}?token={served.token}")
        assert status in (403, 404), (path, status)
        assert b"import" not in body and b"root:" not in body
    status, body = served.get(f"/static/cytoscape.min.js?token={served.token}")
    assert status == 200 and len(body) > 100_000


def test_the_lab_json_matches_ip(served: Served):
    for line in ("ns add a b", "veth a b", "addr add a:eth0 10.9.0.1/24", "link a:eth0 up", "link b:eth0 up",
                 "bridge add br0", "veth p1 a:eth1", "bridge br0 add p1"):
        served.step(line)
    status, body = served.get(f"/api/lab?token={served.token}")
    assert status == 200
    lab = json.loads(body)
    drawn = {ns["name"]: {x["name"]: x for x in ns["interfaces"]} for ns in lab["namespaces"]}
    for ns in ("host", "a", "b"):
        oracle = {x["ifname"]: x for x in served.ip_j(ns, "-d", "addr", "show") if x["ifname"] != "lo"}
        assert set(drawn[ns]) == set(oracle), ns
        for name, x in oracle.items():
            want = {f"{a['local']}/{a['prefixlen']}" for a in x.get("addr_info", []) if a.get("scope") != "link"}
            assert set(drawn[ns][name]["addrs"]) == want
            assert drawn[ns][name]["bridge"] == (x.get("linkinfo", {}).get("info_kind") == "bridge")
            assert (drawn[ns][name]["state"] != "down") == ("UP" in x["flags"])
    assert ["a:eth0", "b:eth0"] in lab["cables"]
    assert lab["journal"][0]["text"] == "bridge br0 add p1" and lab["journal"][0]["ip"]


def test_a_step_reaches_an_open_stream_within_200_ms(served: Served):
    c = http.client.HTTPConnection(served.url.hostname, served.url.port, timeout=5)
    c.request("GET", f"/events?token={served.token}", headers={"Host": served.url.netloc})
    stream = c.getresponse()
    assert stream.status == 200 and stream.getheader("Content-Type") == "text/event-stream"
    first = stream.readline()
    assert first.startswith(b"data: ") and b'"a"' not in first
    stream.readline()
    waits = []
    for name in ("a", "b", "c"):
        t0 = time.perf_counter()
        served.step(f"ns add {name}")
        while True:
            line = stream.readline()
            if line.startswith(b"data: ") and any(ns["name"] == name for ns in json.loads(line[6:])["namespaces"]):
                break
        waits.append(time.perf_counter() - t0)
    c.close()
    print("stream waits (s):", [round(w, 4) for w in waits])
    assert max(waits) < 0.2, waits  # the step itself included


def test_web_in_the_repl_serves_while_the_repl_keeps_working(tmp_path, loopback_up):  # noqa: F811
    from test_repl_pty import Terminal

    term = Terminal(str(tmp_path))
    try:
        term.wait_for(r"nslab>")
        term.type("web\r")
        term.wait_for(r"live picture: http://127\.0\.0\.1:\d+/\?token=\S+")
        url = urllib.parse.urlsplit(re.search(r"http://\S+", term.text()).group())  # type: ignore[union-attr]
        term.type("ns add alpha\r")
        term.wait_for(r"added alpha")
        c = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        c.request("GET", f"/api/lab?{url.query}", headers={"Host": url.netloc})
        lab = json.loads(c.getresponse().read())
        assert "alpha" in [ns["name"] for ns in lab["namespaces"]]
        term.type("web\r")  # a second `web`: the same server
        term.wait_for(re.escape(f"{url.netloc}/?{url.query}"))
        term.type("exit\r")
        term.wait_for(r"leave\? \[y/N\]")
        term.type("y\r")
        term.proc.wait(timeout=20)
        with pytest.raises(ConnectionRefusedError):  # it stopped with the lab
            http.client.HTTPConnection(url.hostname, url.port, timeout=5).request("GET", "/")
    finally:
        term.close()



def test_web_in_a_file_run_says_where_it_serves_from(tmp_path):
    from conftest import nslab_cli

    (tmp_path / "w.lab").write_text("ns add a\nweb\n")
    res = nslab_cli("run", str(tmp_path / "w.lab"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "web serves from the REPL" in res.stdout + res.stderr
    assert "http://" not in res.stdout + res.stderr


DETAILED = ["ns add a b", "a sysctl net.ipv6.conf.default.disable_ipv6 1", "b sysctl net.ipv6.conf.default.disable_ipv6 1",
            "veth a b", "addr add a:eth0 10.9.0.1/24", "addr add b:eth0 10.9.0.2/24", "link a:eth0 up", "link b:eth0 up",
            "a route add 10.8.0.0/16 via 10.9.0.2", "a sysctl net.ipv4.ip_forward 1", "a ping -c 2 -i 0.2 10.9.0.2"]


def sysctl_in(served: Served, ns: str, key: str) -> bool:
    """The oracle for a sysctl: cat, run inside the namespace (through the lab's process's mounts)."""
    argv = ["nsenter", "-t", str(served.proc.pid), "-m", "nsenter", f"--net=/run/netns/{ns}", "cat", f"/proc/sys/{key}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip() != "0"


def owners_by_ip(served: Served) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for ns in ("host", "a", "b"):
        for x in served.ip_j(ns, "link", "show"):
            if x["link_type"] != "loopback":
                found.setdefault(x["address"], set()).add(f"{ns}:{x['ifname']}")
    return found


def test_an_interface_s_details_match_ip(served: Served):
    for line in DETAILED:
        served.step(line)
    status, body = served.get(f"/api/if/a/eth0?token={served.token}")
    assert status == 200
    got = json.loads(body)
    link = served.ip_j("a", "-s", "-d", "addr", "show", "eth0")[0]
    assert got["mac"] == link["address"] and got["mtu"] == link["mtu"] and got["kind"] == "veth"
    assert got["addrs"] == [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["scope"] != "link"]
    stats = served.ip_j("a", "-s", "link", "show", "eth0")[0]["stats64"]
    for way in ("rx", "tx"):
        for what in ("packets", "bytes", "dropped", "errors"):
            assert got["counters"][f"{way}_{what}"] == stats[way][what], (way, what)
    assert got["counters"]["tx_packets"] >= 3  # the pings and the ARP request went out of it
    neigh = served.ip_j("a", "neigh", "show", "dev", "eth0")
    assert neigh and {(n["address"], n["mac"], n["state"]) for n in got["neighbours"]} == \
        {(n["dst"], n["lladdr"], " ".join(n["state"])) for n in neigh}
    owners = owners_by_ip(served)
    for n in got["neighbours"]:
        assert set(n["owner"]) == owners[n["mac"]] == {"b:eth0"}


def test_a_namespace_s_details_match_ip(served: Served):
    for line in DETAILED:
        served.step(line)
    for ns in ("a", "b", "host"):
        status, body = served.get(f"/api/ns/{ns}?token={served.token}")
        assert status == 200
        got = json.loads(body)
        want = {(r["dst"], r.get("gateway"), r.get("dev")) for r in served.ip_j(ns, "route", "show")}
        assert {(r["dst"], r["via"], r["dev"]) for r in got["routes"] if r["family"] == 4} == want, ns
        if ns != "host":
            assert got["forwarding"] == {"ipv4": sysctl_in(served, ns, "net/ipv4/ip_forward"),
                                         "ipv6": sysctl_in(served, ns, "net/ipv6/conf/all/forwarding")}
    a = json.loads(served.get(f"/api/ns/a?token={served.token}")[1])
    assert a["forwarding"]["ipv4"] is True and {"dst": "10.8.0.0/16", "via": "10.9.0.2", "dev": "eth0", "family": 4,
                                                 "kernel": False} in a["routes"]
    assert json.loads(served.get(f"/api/ns/b?token={served.token}")[1])["forwarding"]["ipv4"] is False


def test_details_of_what_the_lab_lacks_are_404_with_words_and_need_the_token(served: Served):
    served.step("ns add a")
    for path, words in (("/api/ns/zz", "no namespace 'zz'"), ("/api/if/zz/eth0", "no namespace 'zz'"),
                        ("/api/if/a/nope", "no interface 'nope' in a"), ("/api/ns/..%2f..%2fetc", "no namespace"),
                        ("/api/if/a/x%25d", "no interface")):
        status, body = served.get(f"{path}?token={served.token}")
        assert status == 404, path
        assert words in json.loads(body)["error"], (path, body)
    assert served.get("/api/ns/a")[0] == 403
    assert served.get("/api/if/a/lo")[0] == 403
    assert served.get(f"/api/ns/a?token={served.token}", host=f"evil.example:{served.url.port}")[0] == 403
    status, body = served.get(f"/api/if/a/lo?token={served.token}")
    assert status == 200 and json.loads(body)["kind"] == "loopback"
