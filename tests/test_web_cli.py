"""`nslab web FILE...` as a person runs it: a process of its own replays the file, says the URL and
serves until SIGTERM. This test process (in the namespace nslab was started in) is the browser;
what the page is sent is judged by the lab file's own lines and by `ip -j` in the lab's namespaces."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT
from test_outside_socket import loopback_up  # noqa: F401 - a fixture: lo up in this namespace

from nslab.kernel import isolate


class WebCli:
    """`python -m nslab web ARGS` in the background, until its URL is said (or it ends)."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop(isolate.MARK, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "nslab", "web", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        assert self.proc.stdout is not None
        self.said: list[str] = []
        self.url = None
        for line in self.proc.stdout:
            self.said.append(line)
            found = re.search(r"http://\S+", line)
            if found:
                self.url = urllib.parse.urlsplit(found.group())
                break
        self.token = urllib.parse.parse_qs(self.url.query)["token"][0] if self.url else ""

    def get(self, path: str, token: bool = True) -> tuple[int, bytes]:
        assert self.url is not None
        sep = "&" if "?" in path else "?"
        url = f"http://{self.url.netloc}{path}" + (f"{sep}token={self.token}" if token else "")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def ip_j(self, ns: str, *args: str) -> list[dict]:
        """The oracle: iproute2 in the serving process's namespaces (its mounts hold /run/netns)."""
        pid = str(self.proc.pid)
        argv = (["nsenter", "-t", pid, "-n", "ip", "-j", *args] if ns == "host"
                else ["nsenter", "-t", pid, "-m", "ip", "-n", ns, "-j", *args])
        return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout or "[]")

    def children(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(self.proc.pid):
                    found.append(int(entry))
            except (OSError, IndexError):
                continue
        return found

    def stop(self, how: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        code = self.proc.wait(timeout=20)
        assert self.proc.stdout is not None
        self.said += self.proc.stdout.readlines()
        return code


def _netns_holders(ino: int) -> list[int]:
    """Every process on the machine whose network namespace is inode INO."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                out.append(int(entry))
        except OSError:
            continue
    return out


def _made_by(lab: Path) -> dict[str, set[str]]:
    """The namespaces a lab file adds and the addresses it puts on each interface (`NS:IF` or `NS addr add IF`)."""
    made: dict[str, set[str]] = {"host": set()}
    for line in lab.read_text().splitlines():
        words = line.split("#")[0].split()
        if words[:2] == ["ns", "add"]:
            made.update({n: set() for n in words[2:]})
        if "addr" in words and words[words.index("addr") + 1] == "add":
            i = words.index("addr")
            ns, ep, cidr = (words[0] if i == 1 else "host"), words[i + 2], words[i + 3]
            made.setdefault(ns, set()).add(f"{ep.split(':')[-1]} {cidr}")
    return made


def test_nslab_web_serves_a_bundled_lab_outside_it_until_sigterm(loopback_up):  # noqa: F811
    lab_file = Path(ROOT) / "labs" / "03-two-namespaces.lab"
    served = WebCli(str(lab_file.relative_to(ROOT)))
    try:
        assert served.url is not None, "".join(served.said)
        assert served.url.hostname == "127.0.0.1"
        assert any(re.match(r"ok: 24/24 steps", line) for line in served.said), served.said
        status, body = served.get("/api/lab")
        assert status == 200
        lab = json.loads(body)
        drawn = {ns["name"]: {x["name"]: set(x["addrs"]) for x in ns["interfaces"]} for ns in lab["namespaces"]}
        made = _made_by(lab_file)
        assert set(drawn) == set(made) == {"host", "ns1", "ns2"}
        for ns, addrs in made.items():
            assert {f"{name} {a}" for name, got in drawn[ns].items() for a in got} == addrs, ns
            oracle = {x["ifname"]: {f"{a['local']}/{a['prefixlen']}" for a in x.get("addr_info", []) if a["scope"] != "link"}
                      for x in served.ip_j(ns, "addr", "show") if x["ifname"] != "lo"}
            assert drawn[ns] == oracle, ns
        assert lab["cables"] == [["ns1:veth0", "ns2:veth1"]]
        assert served.get("/api/lab", token=False)[0] == 403
        assert served.get("/api/ns/ns1", token=False)[0] == 403
        assert served.get("/?token=wrong", token=False)[0] == 403
        ino = os.stat(f"/proc/{served.proc.pid}/ns/net").st_ino
        helpers = served.children()
        assert helpers, "the outside helper (kernel/outside.py) runs"
    finally:
        code = served.stop()
    assert code == 0, served.said
    assert "Traceback" not in "".join(served.said)
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if os.path.exists(f"/proc/{pid}")], "the helper ended with the lab"
    assert _netns_holders(ino) == []  # no process is left in the lab's namespace
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{served.url.netloc}/?token={served.token}", timeout=2)


@pytest.mark.parametrize("bad", ["link nosuch up", "expect ns nosuch"])
def test_nslab_web_does_not_serve_a_replay_that_failed(tmp_path, bad):
    (tmp_path / "bad.lab").write_text(f"ns add a\n{bad}\nns add b\n")
    served = WebCli(str(tmp_path / "bad.lab"))
    code = served.stop()
    said = "".join(served.said)
    assert code == 1, said
    assert served.url is None and "http://" not in said
    assert "not serving: the replay failed" in said
    assert "Traceback" not in said


def test_nslab_web_refuses_a_bad_port_before_anything_runs():
    served = WebCli("--port", "70000", "labs/03-two-namespaces.lab")
    code = served.stop()
    said = "".join(served.said)
    assert code == 2 and "expected a port number from 1 to 65535, got '70000'" in said, said
    assert "ns1" not in said


def test_nslab_web_open_starts_the_browser_outside_the_lab(tmp_path, loopback_up):  # noqa: F811
    """--open: the browser ($BROWSER here, a script that says where it ran) is started in the namespace nslab
    was started in, where the printed URL answers, not in the lab's."""
    said = tmp_path / "browser.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1 $(stat -L -c %i /proc/self/ns/net)" > {said}.part && mv {said}.part {said}\n')
    browser.chmod(0o755)
    os.environ["BROWSER"], before = f"{browser} %s", os.environ.get("BROWSER")
    try:
        served = WebCli("--open", "labs/03-two-namespaces.lab")
    finally:
        if before is None:
            os.environ.pop("BROWSER")
        else:
            os.environ["BROWSER"] = before
    try:
        assert served.url is not None, "".join(served.said)
        deadline = time.monotonic() + 10
        while not said.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url, ino = said.read_text().split()
        assert url == urllib.parse.urlunsplit(served.url)
        assert int(ino) == os.stat("/proc/self/ns/net").st_ino != os.stat(f"/proc/{served.proc.pid}/ns/net").st_ino
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200
    finally:
        assert served.stop() == 0


def test_nslab_web_with_no_file_serves_an_empty_lab_until_ctrl_c(loopback_up):  # noqa: F811
    served = WebCli()
    try:
        assert served.url is not None, "".join(served.said)
        status, body = served.get("/api/lab")
        assert status == 200 and [ns["name"] for ns in json.loads(body)["namespaces"]] == ["host"]
        helpers = served.children()
    finally:
        code = served.stop(signal.SIGINT)  # Ctrl-C reaches the lab's process (the helper ignores it)
    assert code == 0 and "Traceback" not in "".join(served.said), served.said
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helpers and not [pid for pid in helpers if os.path.exists(f"/proc/{pid}")]
