"""The host guard, proven with decoys made by `ip` (never this machine's eth0).

In host mode nslab refuses to change an interface or a namespace it did not
make, names the way out (--allow-host-changes), and leaves the decoy exactly as
it was; with the flag the same command works and `reset` puts the decoy back.
Host mode acts on the pytest process's private root namespace (conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import nslab_cli
from test_safety_crash import (
    Decoys,
    decoys_fixture,  # noqa: F401 - the shared `decoys` fixture
    host_links,
    ipj,
)

# {va}: a decoy veth end holding 192.0.2.1/24; {vb}: its peer, a port of {br}, a decoy bridge; {ns}: a decoy namespace
REFUSED = {
    "rename": "link {va} name zz{t}",
    "move": "link {va} netns {lab}n",
    "up": "link {vb} up",
    "down": "link {va} down",
    "mtu": "link {va} mtu 1400",
    "mac": "link {va} mac 02:00:00:00:00:09",
    "delete": "link del {va}",
    "bridge-del": "bridge del {br}",
    "enslave": "bridge {lab}br add {va}",
    "add-port-to-theirs": "bridge {br} add {lab}h",
    "release-their-port": "bridge {br} del {vb}",
    "addr-add": "addr add {va} 10.1.1.1/24",
    "addr-del": "addr del {va} 192.0.2.1/24",
    "route-dev": "route add 10.5.0.0/16 dev {va}",
    "route-via": "route add 10.6.0.0/16 via 192.0.2.2",
    "ns-del": "ns del {ns}",
    "in-their-ns": "{ns} link lo down",
    "addr-in-their-ns": "{ns} addr add lo 10.0.0.1/8",
    "sysctl-in-their-ns": "{ns} sysctl net.ipv4.ip_forward 1",
    "sysctl-in-the-machines-own": "sysctl net.ipv4.conf.all.rp_filter 2",
    "route-del-theirs": "route del 198.18.0.0/24",
}
SETUP = "ns add {lab}n\nveth {lab}h {lab}n:eth0\nbridge add {lab}br\n"


def route(dest: str) -> list[dict]:
    return ipj("route", "show", dest)


def names_in(ns: str) -> set[str]:
    return {m["ifname"] for m in ipj("-n", ns, "link", "show")} if os.path.exists(f"/run/netns/{ns}") else set()


def rp_filter() -> str:  # the pytest process's private root namespace, not the machine's
    return Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text().strip()


# What each allowed change does, read by `ip -j` and /proc: (decoys, lab name, decoys.state()) -> done?
# False before the line runs (checked), true after it ran with --allow-host-changes.
Effect = Callable[[Decoys, str, dict], bool]
EFFECT: dict[str, Effect] = {
    "rename": lambda d, lab, s: d.va not in s["links"] and f"zz{lab[-4:]}" in host_links(),
    "move": lambda d, lab, s: d.va not in s["links"] and d.va in names_in(f"{lab}n"),
    "up": lambda d, lab, s: "UP" in s["links"][d.vb]["flags"],
    "down": lambda d, lab, s: "UP" not in s["links"][d.va]["flags"],
    "mtu": lambda d, lab, s: s["links"][d.va]["mtu"] == 1400,
    "mac": lambda d, lab, s: s["links"][d.va]["address"] == "02:00:00:00:00:09",
    "delete": lambda d, lab, s: d.va not in s["links"] and d.vb not in s["links"],
    "bridge-del": lambda d, lab, s: d.br not in s["links"],
    "enslave": lambda d, lab, s: s["links"][d.va]["master"] == f"{lab}br",
    "add-port-to-theirs": lambda d, lab, s: f"{lab}h" in host_links() and host_links()[f"{lab}h"].get("master") == d.br,
    "release-their-port": lambda d, lab, s: s["links"][d.vb]["master"] is None,
    "addr-add": lambda d, lab, s: "10.1.1.1/24" in s["links"][d.va]["addrs"],
    "addr-del": lambda d, lab, s: "192.0.2.1/24" not in s["links"][d.va]["addrs"],
    "route-dev": lambda d, lab, s: [(r["dst"], r.get("dev")) for r in route("10.5.0.0/16")] == [("10.5.0.0/16", d.va)],
    "route-via": lambda d, lab, s: [(r["dst"], r.get("gateway")) for r in route("10.6.0.0/16")] == [("10.6.0.0/16", "192.0.2.2")],
    "ns-del": lambda d, lab, s: not s["ns"],
    "in-their-ns": lambda d, lab, s: "UP" not in s["inside"]["lo"]["flags"],
    "addr-in-their-ns": lambda d, lab, s: "10.0.0.1/8" in s["inside"]["lo"]["addrs"],
    "sysctl-in-their-ns": lambda d, lab, s: s["forwarding"] == "1",
    "sysctl-in-the-machines-own": lambda d, lab, s: rp_filter() == "2",
    "route-del-theirs": lambda d, lab, s: route("198.18.0.0/24") == [],
}


def test_every_refused_change_says_what_it_does() -> None:
    assert set(EFFECT) == set(REFUSED)


def host(lab: str, text: str, *flags: str):  # type: ignore[no-untyped-def]
    return nslab_cli("--host", "--lab", lab, "--no-color", *flags, "run", "-", input=text)


def fill(line: str, d: Decoys, lab: str) -> str:
    return line.format(va=d.va, vb=d.vb, br=d.br, ns=d.ns, lab=lab, t=lab[-4:])


@pytest.mark.parametrize("what", list(REFUSED))
def test_refused_without_the_flag_then_allowed_with_it(decoys: Decoys, what: str) -> None:
    lab = f"g{uuid.uuid4().hex[:6]}"
    line = fill(REFUSED[what], decoys, lab)
    before = decoys.state()
    try:
        r = host(lab, fill(SETUP, decoys, lab) + line + "\n")
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert "was not made by this lab" in out and "--allow-host-changes" in out, out
        assert out.count("error") == 1 and "Traceback" not in out
        assert decoys.state() == before  # refused means untouched
        assert not EFFECT[what](decoys, lab, before), "the change is already there: the check below would mean nothing"
        ok = host(lab, line + "\n", "--allow-host-changes")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        # allowed means done: the oracle sees the change the line names
        assert EFFECT[what](decoys, lab, decoys.state()), (what, ok.stdout)
    finally:
        reset = nslab_cli("--host", "--lab", lab, "--allow-host-changes", "reset")
        assert reset.returncode == 0, reset.stdout + reset.stderr
        nslab_cli("--host", "--lab", lab, "clean")
    if what not in ("delete", "bridge-del", "ns-del"):
        # reset undid the allowed change: the decoy is as it was (ifindex and all)
        assert decoys.state() == before


def test_enslaving_an_addressed_interface_warns_about_the_uplink(decoys: Decoys) -> None:
    lab = f"g{uuid.uuid4().hex[:6]}"
    try:
        r = host(lab, f"bridge add {lab}br\nbridge {lab}br add {decoys.va}\n", "--allow-host-changes")
        assert r.returncode == 0, r.stdout + r.stderr
        warn = [line for line in r.stdout.splitlines() if "192.0.2.1/24" in line]
        assert warn, r.stdout
        text = " ".join(warn)
        assert decoys.va in text and "off it" in text and "uplink" in text and f"move the address to {lab}br" in text
    finally:
        nslab_cli("--host", "--lab", lab, "--allow-host-changes", "reset")
        nslab_cli("--host", "--lab", lab, "clean")


def test_the_labs_own_objects_need_no_flag(decoys: Decoys) -> None:
    lab = f"g{uuid.uuid4().hex[:6]}"
    before = decoys.state()
    text = fill(SETUP, decoys, lab) + "\n".join([
        f"link {lab}h name {lab}x", f"link {lab}x mtu 1400", f"bridge {lab}br add {lab}x", f"addr add {lab}br 10.77.0.1/24",
        f"{lab}n addr add eth0 10.77.0.2/24", f"{lab}n link eth0 up", f"{lab}n sysctl net.ipv4.ip_forward 1",
        "route add 10.78.0.0/16 via 10.77.0.2", f"link del {lab}x", f"ns del {lab}n"]) + "\n"
    try:
        r = host(lab, text)
        assert r.returncode == 0, r.stdout + r.stderr
        assert decoys.state() == before
    finally:
        nslab_cli("--host", "--lab", lab, "clean")
