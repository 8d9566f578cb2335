"""Crash safety: `kill -9` of `nslab run` in the middle of a 400-namespace replay.

Isolated mode: the kernel takes the whole lab away with the process.
Host mode: `nslab --host clean` removes exactly what the dead process made (and
says so), while decoys made beforehand with `ip` survive untouched.

Host mode here acts on the pytest process's private root namespace, /run/netns
and /run/nslab (tests/conftest.py isolates it at import), never on the machine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, nslab_cli

from nslab.kernel import isolate

STAR = 400
# the kill points of the last runs, for docs/safety.md's figures
KILLS: list[dict] = []
SEED_VAR = "NSLAB_TEST_SEED"


def kill_rng(what: str) -> random.Random:
    """The random source of a kill point: seeded, and the seed printed (pytest shows it with a failure),
    so NSLAB_TEST_SEED=SEED replays the same kill point."""
    seed = int(os.environ.get(SEED_VAR) or random.SystemRandom().randrange(2**32))
    print(f"{what}: kill point seed {seed} (replay with {SEED_VAR}={seed})")
    return random.Random(seed)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def ipj(*args: str) -> list[dict]:
    return json.loads(ip("-j", *args) or "[]")


def host_links() -> dict[str, dict]:
    """The pytest process's root namespace as `ip -j -d addr` sees it, by name."""
    return {m["ifname"]: m for m in ipj("-d", "addr", "show")}


def netns_names() -> set[str]:
    return set(os.listdir("/run/netns"))


def stable(m: dict) -> dict:
    """What must not change on an object nslab did not make (operstate may lag)."""
    keep = ("ifindex", "ifname", "flags", "mtu", "address", "master", "ifalias", "link", "link_index")
    # link-local IPv6 comes and goes with carrier, by the kernel's autoconf, seconds later
    addrs = sorted(f"{a['local']}/{a['prefixlen']}" for a in m.get("addr_info", []) if not a["local"].startswith("fe80:"))
    kind = m.get("linkinfo", {}).get("info_kind")
    flags = sorted(set(m.get("flags", [])) - {"LOWER_UP", "NO-CARRIER", "M-DOWN"})  # carrier follows the peer, later
    return {**{k: m.get(k) for k in keep}, "flags": flags, "addrs": addrs, "kind": kind}


class Decoys:
    """A namespace, a bridge and a veth pair made with `ip`, as somebody else on the host would."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:5]
        self.ns, self.br, self.va, self.vb = f"decoy{tag}", f"dbr{tag}", f"dva{tag}", f"dvb{tag}"
        ip("netns", "add", self.ns)
        ip("-n", self.ns, "link", "set", "lo", "up")
        ip("-n", self.ns, "addr", "add", "198.51.100.1/32", "dev", "lo")
        ip("link", "add", self.br, "type", "bridge")
        ip("link", "set", self.br, "up")
        ip("link", "add", self.va, "type", "veth", "peer", "name", self.vb)
        ip("link", "set", self.vb, "master", self.br)
        ip("addr", "add", "192.0.2.1/24", "dev", self.va)
        ip("link", "set", self.va, "up")
        ip("route", "add", "198.18.0.0/24", "dev", self.va)  # somebody's static route through it

    @property
    def links(self) -> list[str]:
        return [self.br, self.va, self.vb]

    def state(self) -> dict:
        here = host_links()
        alive = self.ns in netns_names()
        inside = {m["ifname"]: stable(m) for m in ipj("-n", self.ns, "-d", "addr", "show")} if alive else {}
        fwd = subprocess.run(["ip", "netns", "exec", self.ns, "cat", "/proc/sys/net/ipv4/ip_forward"],
                             capture_output=True, text=True).stdout.strip() if alive else None
        return {"links": {n: stable(here[n]) for n in self.links if n in here},
                "ns": alive, "inside": inside, "forwarding": fwd}

    def remove(self) -> None:
        for cmd in (["netns", "del", self.ns], ["link", "del", self.br], ["link", "del", self.va]):
            subprocess.run(["ip", *cmd], capture_output=True)


@pytest.fixture(name="decoys")
def decoys_fixture() -> Iterator[Decoys]:
    d = Decoys()
    try:
        yield d
    finally:
        d.remove()


def star_lab(path: Path, prefix: str, n: int = STAR) -> Path:
    """A star: n namespaces, each with a veth to one bridge and an address."""
    lines = [f"# a star of {n} namespaces", f"bridge add {prefix}br"]
    for i in range(n):
        lines += [f"ns add {prefix}{i}", f"veth {prefix}h{i} {prefix}{i}:eth0", f"bridge {prefix}br add {prefix}h{i}",
                  f"addr add {prefix}{i}:eth0 10.{100 + i // 65000}.{i // 250 % 256}.{i % 250 + 1}/8",
                  f"link {prefix}{i}:eth0 up"]
    path.write_text("\n".join(lines) + "\n")
    return path


def popen_nslab(*args: str, out: int = subprocess.DEVNULL) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    return subprocess.Popen([sys.executable, "-m", "nslab", *args], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"nslab ended (rc {proc.returncode}) before the kill point"
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def count_lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def net_inodes_in_use() -> set[int]:
    """Every network namespace some process on the machine is in or holds open."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            out.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("net:["):
                    out.add(os.stat(f"/proc/{pid}/fd/{fd}").st_ino)
        except OSError:
            continue
    return out


def test_kill9_isolated_leaves_nothing(tmp_path: Path) -> None:
    lab = star_lab(tmp_path / "star.lab", "s")
    links_before, ns_before = set(host_links()), netns_names()
    target = kill_rng("isolated").randint(20, 150)  # namespaces made when the kill comes
    proc = popen_nslab("run", "-q", str(lab))
    child_netns = f"/proc/{proc.pid}/root/run/netns"
    held: set[int] = set()

    def ready() -> bool:
        try:
            names = os.listdir(child_netns)
        except OSError:
            return False
        if len(names) < target:
            return False
        for n in names:  # the lab's namespaces, as the kernel numbers them
            try:
                held.add(os.stat(f"{child_netns}/{n}").st_ino)
            except OSError:
                pass
        held.add(os.stat(f"/proc/{proc.pid}/ns/net").st_ino)
        return True

    kill_when(proc, ready)
    KILLS.append({"mode": "isolated", "namespaces": len(held) - 1})
    assert len(held) > target // 2
    assert not os.path.exists(f"/proc/{proc.pid}")
    assert set(host_links()) == links_before
    assert netns_names() == ns_before
    # no process anywhere is in, or holds, one of the dead lab's namespaces
    assert not held & net_inodes_in_use()
    orphans = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
    assert not orphans.strip()


REMOVED_RE = ("- namespace ", "- link ")


def reported(out: str) -> tuple[set[str], set[str]]:
    ns, links = set(), set()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("- namespace "):
            ns.add(line.split()[-1])
        elif line.startswith("- link ") and ":" not in line:
            links.add(line.split()[-1])
    return ns, links


@pytest.mark.parametrize("window", [(1, 60), (60, 600), (600, 1500)], ids=["early", "middle", "late"])
def test_kill9_host_clean_removes_exactly_what_was_made(tmp_path: Path, decoys: Decoys, window: tuple[int, int]) -> None:
    name = f"crash{uuid.uuid4().hex[:6]}"
    prefix = f"c{uuid.uuid4().hex[:3]}"
    lab = star_lab(tmp_path / "star.lab", prefix)
    links_before, ns_before = host_links(), netns_names()
    decoy_state = decoys.state()
    assert decoy_state["ns"] and len(decoy_state["links"]) == 3
    target = kill_rng(f"host {window}").randint(*window)  # op-log records written when the kill comes
    oplog = f"/run/nslab/{name}/ops.jsonl"
    proc = popen_nslab("--host", "--lab", name, "run", "-q", str(lab))
    try:
        kill_when(proc, lambda: count_lines(oplog) >= target)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the journal stayed in this process's private /run/nslab: the machine's (pid 1's view) never saw it
    assert os.path.exists(oplog) and not os.path.exists(f"/proc/1/root/run/nslab/{name}")
    made_ns = netns_names() - ns_before
    made_links = set(host_links()) - set(links_before)
    assert made_ns or made_links, "the kill came before anything was made"
    KILLS.append({"mode": "host", "records": target, "namespaces": len(made_ns), "links": len(made_links)})

    r = nslab_cli("--host", "--lab", name, "clean")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    said_ns, said_links = reported(r.stdout)
    # exactly what was made: every object named, nothing else
    assert said_ns == made_ns, (sorted(said_ns ^ made_ns), r.stdout[-2000:])
    assert said_links == made_links, (sorted(said_links ^ made_links), r.stdout[-2000:])
    # the summary counts the lines it listed (namespaces, host links and links inside namespaces)
    listed = [line for line in r.stdout.splitlines() if line.strip().startswith("- ")]
    assert len(listed) >= len(said_ns) + len(said_links)
    objects = "object" if len(listed) == 1 else "objects"  # a kill early on may leave one made
    assert f"removed {len(listed)} {objects} " in r.stdout, r.stdout[-2000:]
    # nothing is left, and the decoys are exactly as they were
    assert netns_names() == ns_before
    assert {n: stable(m) for n, m in host_links().items()} == {n: stable(m) for n, m in links_before.items()}
    assert decoys.state() == decoy_state
    # a second clean finds nothing
    again = nslab_cli("--host", "--lab", name, "clean")
    assert again.returncode == 0 and "removed 0 objects" in again.stdout, again.stdout
