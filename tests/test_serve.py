"""`serve http`, `serve echo`, `connect` and `expect connect`: nslab's own servers as background
programs of the lab, and TCP reachability.

The oracles are not nslab's: curl and a Python client run inside the namespace by `ip netns exec`,
/proc (is that very server process still there), and bash running what `export sh` wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ns_path
from test_background import running, table

from nslab.base.results import ExpectResult, Output
from nslab.lab import Lab
from nslab.services.docker import start_time

PAIR = ["ns add a b", "veth a b", "addr add a:eth0 10.0.0.1/24", "addr add b:eth0 10.0.0.2/24",
        "link a:eth0 up", "link b:eth0 up"]


def build(lab: Lab, *lines: str) -> None:
    for line in (*PAIR, *lines):
        out = lab.run(line)
        assert out.ok, (line, out.error)


def curl(lab: Lab, ns: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "curl", "-sS", "--max-time", "3", url],
                          capture_output=True, text=True, timeout=10)


def verdict(lab: Lab, line: str) -> ExpectResult:
    out = lab.run(line)
    return next(e for e in out.events if isinstance(e, ExpectResult))


def test_serve_http_answers_curl_and_expect_connect_follows_it(lab: Lab):
    build(lab, "serve http b")
    rows = table(lab, "ps")
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [("p1", "b", "running", "serve http 80")]
    pid = rows[0][2]
    start = start_time(pid)
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(ns_path(lab, "b")).st_ino  # it runs inside b
    got = curl(lab, "a", "http://10.0.0.2/hello")
    assert got.returncode == 0 and got.stdout == "nslab serve http in b, port 80: you asked for /hello\n", got
    logged = [e.line for e in lab.run("logs p1").events if isinstance(e, Output)]
    assert logged[0] == "listening on :: port 80 (http)" and '10.0.0.1 "GET /hello HTTP/1.1" 200 -' in logged, logged
    held = verdict(lab, "expect connect a b 80")
    assert held.ok and held.found.startswith("10.0.0.2:80 accepted the connection in "), held
    assert verdict(lab, "expect no connect a b 81").ok
    assert lab.run("kill p1").ok
    assert not running(pid, start)
    failed = verdict(lab, "expect connect a b 80")
    assert not failed.ok and failed.found == "10.0.0.2:80 refused the connection: nothing listens on port 80 there"
    assert curl(lab, "a", "http://10.0.0.2/").returncode != 0  # curl agrees: nothing answers
    assert verdict(lab, "expect no connect a 10.0.0.2 80").ok
    assert lab.undo(1)  # undoing the kill starts the server again, and the step waits until it listens
    assert verdict(lab, "expect connect a b 80").ok
    again = table(lab, "ps")[0][2]
    assert lab.undo(1)  # undoing `serve` stops it
    assert not os.path.exists(f"/proc/{again}") and table(lab, "ps") == []
    assert not verdict(lab, "expect connect a b 80").ok


CLIENT = """
import socket, sys
s = socket.create_connection(("10.0.0.2", 7), timeout=3)
s.sendall(sys.argv[1].encode())
s.shutdown(socket.SHUT_WR)
got = b""
while data := s.recv(4096):
    got += data
print(got.decode(), end="")
"""


def test_serve_echo_sends_back_what_a_client_sends(lab: Lab):
    build(lab, "serve echo b 7")
    said = "hello through the echo server\nsecond line"
    got = subprocess.run(["nsenter", f"--net={ns_path(lab, 'a')}", sys.executable, "-c", CLIENT, said],
                         capture_output=True, text=True, timeout=10)
    assert got.returncode == 0 and got.stdout == said, got
    logged = [e.line for e in lab.run("logs p1").events if isinstance(e, Output)]
    assert logged[1].startswith("connection from 10.0.0.1 port "), logged
    out = lab.run("connect a b 7")
    assert out.ok and "10.0.0.2:7 accepted the connection" in str(out.events), out.events


def test_connect_and_serve_errors(lab: Lab):
    build(lab, "serve http b 8080")
    out = lab.run("connect a b 8081")
    assert not out.ok and out.error == "connect from a: 10.0.0.2:8081 refused the connection: nothing listens on port 8081 there"
    out = lab.run("connect nosuch b 80")
    assert not out.ok and "nosuch" in out.error
    missing = verdict(lab, "expect connect a nosuch 80")
    assert not missing.ok and "nosuch" in missing.found
    out = lab.run("serve http b 8080")  # the port is taken: the step fails in the server's own words
    assert not out.ok and out.error == "serve http in b: cannot listen on port 8080: Address already in use", out.error
    assert [r[0] for r in table(lab, "ps")] == ["p1"]
    out = lab.run("serve echo b")
    assert not out.ok


def test_dry_run_resolves_serve_and_connect(tmp_path: Path):
    from conftest import nslab_cli

    f = tmp_path / "s.lab"
    f.write_text("\n".join([*PAIR, "serve http b", "connect a b 80", "expect connect a b 80", "serve http nosuch"]) + "\n")
    r = nslab_cli("--no-color", "run", "--dry-run", str(f))
    assert r.returncode == 1, r.stdout
    assert "s.lab:10" in r.stdout and "nosuch" in r.stdout and "1 problem" in r.stdout, r.stdout


def test_save_and_export_keep_serve_and_bash_runs_the_same_server(lab: Lab, tmp_path: Path):
    build(lab, "serve http b 8080")
    assert lab.run(f"save {tmp_path}/s.lab").ok and lab.run(f"export sh {tmp_path}/s.sh").ok
    assert (tmp_path / "s.lab").read_text().splitlines()[-1] == "serve http b 8080"
    script = (tmp_path / "s.sh").read_text()
    assert "# serve http b 8080: nslab's own server" in script and "ip netns exec b python3 -u -c " in script
    # bash builds the lab in a fresh namespace of its own; curl fetches the page there; the server goes by its PIDs
    body = (f'mount -t tmpfs nslab-test /run/netns && bash {tmp_path}/s.sh && '
            'ip netns exec a curl -sS --max-time 3 http://10.0.0.2:8080/x; rc=$?; '
            'ip netns pids b | xargs -r kill; exit $rc')
    got = subprocess.run(["unshare", "-n", "-m", "sh", "-c", body], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and got.stdout == "nslab serve http in b, port 8080: you asked for /x\n", got


def test_a_host_labs_server_outlives_its_process_and_clean_stops_it():
    from conftest import nslab_cli

    # `--host` acts on this pytest process's own isolated root namespace (tests/conftest.py)
    name = f"sv{os.getpid()}"
    r = nslab_cli("--host", "--lab", name, "run", "-", input="ns add sb\nserve echo sb 7\n")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int(r.stdout.split("(pid ")[1].split(")")[0])
    start = start_time(pid)
    try:
        assert running(pid, start)  # a host lab's server keeps serving after nslab ended
        r = nslab_cli("--host", "--lab", name, "run", "-", input="ps\n")
        assert r.returncode == 0 and "serve echo 7" in r.stdout and str(pid) in r.stdout, r.stdout
        r = nslab_cli("--host", "--lab", name, "clean")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not running(pid, start)
    finally:
        if running(pid, start):
            os.kill(pid, 9)
