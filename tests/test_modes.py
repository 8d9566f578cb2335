"""The two modes, run as the real `nslab` command in a separate process.

This pytest process is already isolated (conftest), so its network namespace and /run/netns are the "host"
of every `nslab` it starts: isolated mode must leave them untouched, and host mode must leave exactly
what the lab says there, judged by `ip -j` and iputils ping run here, until `nslab --host reset`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, nslab_cli

from nslab.kernel import isolate


def ipj(*args: str) -> list[dict]:
    """`ip -j` in this process's own network namespace (the one `nslab --host` uses)."""
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def ping(*where: str, target: str) -> bool:
    """iputils ping from this namespace (or `ip netns exec NS`)."""
    pre = ["ip", "netns", "exec", where[0]] if where else []
    return subprocess.run([*pre, "ping", "-n", "-q", "-c", "1", "-W", "1", target], capture_output=True).returncode == 0


def host_view() -> dict:
    """What a host has: named namespaces and the root namespace's links, addresses and routes."""
    links = {x["ifname"]: (x.get("linkinfo", {}).get("info_kind"), "UP" in x["flags"], x.get("master"))
             for x in ipj("-d", "link", "show")}
    return {"netns": sorted(os.listdir("/run/netns")), "links": links,
            "addrs": sorted((x["ifname"], a["local"]) for x in ipj("addr", "show") for a in x.get("addr_info", [])),
            "routes": sorted(json.dumps(r, sort_keys=True) for r in ipj("route", "show"))}


ISOLATED_LAB = """\
# a small lab that would show on the host if it were not isolated
ns add iso1 iso2
veth iso1 iso2
veth hv0 iso1:up0
bridge br-iso add hv0
iso1 link eth0 up
iso2 link eth0 up
iso1 addr add eth0 10.77.0.1/24
iso2 addr add eth0 10.77.0.2/24
addr add br-iso 10.78.0.254/24
iso1 link up0 up
iso1 addr add up0 10.78.0.1/24
iso1 expect reach 10.77.0.2
expect reach 10.78.0.1
expect master hv0 br-iso
"""


def test_isolated_mode_leaves_the_host_untouched(tmp_path: Path):
    before = host_view()
    f = tmp_path / "iso.lab"
    f.write_text(ISOLATED_LAB)
    r = nslab_cli("--no-color", "run", str(f))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 expects held" in r.stdout
    assert host_view() == before
    assert not ping(target="10.78.0.1")


def test_isolated_lab_goes_away_with_a_killed_process(tmp_path: Path):
    """kill -9 mid-lab: the kernel removes it all, since only that process held it."""
    f = tmp_path / "hold.lab"
    f.write_text("ns add k1\nveth kv0 k1:eth0\nexec sleep 60\n")
    before = host_view()
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    sleeper: list[int] = []
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "--no-color", "run", str(f)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the lab is built
            if "kv0" in line:
                break
        # its namespaces are held by that process and its sleep, not by this one
        deadline = time.monotonic() + 10
        # the lab's program, not the helper left outside to bind sockets there (kernel/outside.py)
        while not (sleeper := _child_pids(proc.pid, "sleep")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sleeper, "the lab's program did not start"
        assert os.readlink(f"/proc/{sleeper[0]}/ns/net") != os.readlink("/proc/self/ns/net")
        assert os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    finally:
        proc.kill()
        proc.wait()
        for pid in _child_pids(proc.pid, "sleep") or sleeper:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    assert host_view() == before


def _child_pids(pid: int, comm: str) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split() if _comm(int(x)) == comm]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


ROOTLESS_LAB = """\
ns add a b
veth a b
veth v0 a:eth1
bridge br0 add v0
a link eth0 up
b link eth0 up
a link eth1 up
a addr add eth0 10.0.0.1/24
b addr add eth0 10.0.0.2/24
a addr add eth1 10.0.1.1/24
addr add br0 10.0.1.254/24
b route add default via 10.0.0.1
a ping -c 2 -i 0.1 10.0.0.2
a expect reach 10.0.0.2
expect reach 10.0.1.1
expect master v0 br0
expect no ns c
"""


@pytest.fixture(scope="module")
def readable_deps() -> Path:
    """The few packages `nslab run` imports, copied where an ordinary user can read them
    (this interpreter's site-packages may sit under root's home)."""
    import rich

    d = Path(tempfile.mkdtemp(prefix="nslab-deps-"))
    try:
        d.chmod(0o755)
        shutil.copytree(Path(rich.__file__).parent, d / "rich")
        try:
            import pyroute2

            shutil.copytree(Path(pyroute2.__file__).parent, d / "pyroute2")
        except ImportError:
            pass
        subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rootless_isolated_mode_works(readable_deps: Path):
    """An ordinary user (nobody) builds and pings a lab: a user namespace, no sudo."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{ROOT}:{readable_deps}", "HOME": "/"}
    before = host_view()
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        python, "-m", "nslab", "--no-color", "run", "-"],
                       input=ROOTLESS_LAB, capture_output=True, text=True, env=env, cwd="/", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 expects held" in r.stdout
    assert "2 packets transmitted, 2 received" in r.stdout
    assert host_view() == before
    # and it really ran as that user
    who = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c",
                          "import os; print(os.geteuid())"], capture_output=True, text=True, env=env, cwd="/")
    assert who.stdout.strip() == "65534"


# ---- host mode ---------------------------------------------------------------

# The tutorial's steps (ip netns / veth / bridge sections), written by hand as a lab, not a bundled one.
TUTORIAL = """\
## a namespace joined to the host by a veth
ns add tns1 tns2 tns3
veth veth0 veth1
link veth1 netns tns1
tns1 link veth1 name eth0
tns1 addr add eth0 192.168.189.33/24
tns1 link eth0 up
tns1 link lo up
addr add veth0 192.168.189.1/24
link veth0 up
expect reach 192.168.189.33

## two more namespaces on a bridge, which needs an address for ping -I br0
veth veth2 tns2:eth0
veth veth3 tns3:eth0
bridge br0 add veth2 veth3
tns2 addr add eth0 192.168.190.2/24
tns3 addr add eth0 192.168.190.3/24
tns2 link eth0 up
tns3 link eth0 up
addr add br0 192.168.190.254/24
tns2 route add default via 192.168.190.254
tns3 route add 192.168.189.0/24 via 192.168.190.254
tns2 expect reach 192.168.190.3
ping -c 1 -I br0 192.168.190.2
"""

HOST_NS = ["tns1", "tns2", "tns3"]
HOST_LINKS = ["veth0", "veth2", "veth3", "br0"]


def _addr_of(ns: str | None, dev: str) -> set[str]:
    pre = ["-n", ns] if ns else []
    return {f"{a['local']}/{a['prefixlen']}" for x in ipj(*pre, "addr", "show", "dev", dev)
            for a in x.get("addr_info", []) if a.get("scope") != "link"}


def _routes(ns: str) -> set[tuple]:
    return {(r["dst"], r.get("gateway"), r.get("dev")) for r in ipj("-n", ns, "route", "show")}


def _force_cleanup(lab_name: str) -> None:
    """Only if reset failed: remove what this test made, by name."""
    for ns in HOST_NS:
        if os.path.exists(f"/run/netns/{ns}"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for link in HOST_LINKS:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
    state = Path("/run/nslab") / lab_name
    shutil.rmtree(state, ignore_errors=True)


def test_host_mode_leaves_exactly_the_lab_and_reset_empties_it(tmp_path: Path):
    # /run/nslab is not private to this pytest process: a name of its own keeps parallel runs apart
    lab_name = f"modes{os.getpid()}"
    before = host_view()
    assert not set(HOST_NS) & set(before["netns"])
    f = tmp_path / "tutorial.lab"
    f.write_text(TUTORIAL)
    try:
        r = nslab_cli("--no-color", "--host", "--lab", lab_name, "run", str(f))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 expects held" in r.stdout
        # the process has ended; the lab stays, exactly as written
        assert sorted(os.listdir("/run/netns")) == sorted(set(before["netns"]) | set(HOST_NS))
        host = {x["ifname"]: x for x in ipj("-d", "link", "show")}
        assert set(host) == set(before["links"]) | set(HOST_LINKS)
        assert host["br0"]["linkinfo"]["info_kind"] == "bridge" and "UP" in host["br0"]["flags"]
        for port in ("veth2", "veth3"):
            assert host[port]["master"] == "br0" and "UP" in host[port]["flags"]
        assert "UP" in host["veth0"]["flags"] and "master" not in host["veth0"]
        assert _addr_of(None, "veth0") == {"192.168.189.1/24"}
        assert _addr_of(None, "br0") == {"192.168.190.254/24"}
        assert {x["ifname"] for x in ipj("-n", "tns1", "link", "show")} == {"lo", "eth0"}
        assert _addr_of("tns1", "eth0") == {"192.168.189.33/24"}
        assert _addr_of("tns2", "eth0") == {"192.168.190.2/24"}
        assert _addr_of("tns3", "eth0") == {"192.168.190.3/24"}
        assert ("default", "192.168.190.254", "eth0") in _routes("tns2")
        assert ("192.168.189.0/24", "192.168.190.254", "eth0") in _routes("tns3")
        assert ping(target="192.168.189.33")
        assert ping(target="192.168.190.2") and ping(target="192.168.190.3")
        assert ping("tns2", target="192.168.190.3")
        assert ping("tns3", target="192.168.190.254")
        journal = Path("/run/nslab") / lab_name / "journal.jsonl"
        assert journal.exists()
        steps = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
        assert any(s.get("text") == "bridge br0 add veth2 veth3" for s in steps)
        # a second process sees the same lab
        chk = tmp_path / "check.lab"
        chk.write_text("expect ns tns1\nexpect master veth2 br0\ntns1 expect reach 192.168.189.1\n")
        r = nslab_cli("--no-color", "--host", "--lab", lab_name, "check", str(chk))
        assert r.returncode == 0, r.stdout + r.stderr
        # reset undoes it all
        r = nslab_cli("--no-color", "--host", "--lab", lab_name, "reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert subprocess.run(["ip", "netns", "ls"], capture_output=True, text=True).stdout.strip() == ""
        assert os.listdir("/run/netns") == before["netns"] == []
        assert {x["ifname"] for x in ipj("link", "show")} == set(before["links"]) == {"lo"}
        assert host_view() == before
        assert not ping(target="192.168.189.33")
    finally:
        if any(os.path.exists(f"/run/netns/{ns}") for ns in HOST_NS) or \
                set(x["ifname"] for x in ipj("link", "show")) & set(HOST_LINKS):
            nslab_cli("--host", "--lab", lab_name, "reset")
            _force_cleanup(lab_name)
        shutil.rmtree(Path("/run/nslab") / lab_name, ignore_errors=True)


def test_host_mode_will_not_touch_what_it_did_not_make(tmp_path: Path):
    """A link made by someone else (here: by ip) is refused without --allow-host-changes."""
    lab_name = f"guard{os.getpid()}"
    subprocess.run(["ip", "link", "add", "other0", "type", "veth", "peer", "name", "other1"], check=True)
    try:
        r = nslab_cli("--no-color", "--host", "--lab", lab_name, "run", "-", input="link del other0\n")
        assert r.returncode == 1
        assert "was not made by this lab" in r.stdout + r.stderr
        assert "other0" in {x["ifname"] for x in ipj("link", "show")}
    finally:
        subprocess.run(["ip", "link", "del", "other0"], capture_output=True)
        shutil.rmtree(Path("/run/nslab") / lab_name, ignore_errors=True)
