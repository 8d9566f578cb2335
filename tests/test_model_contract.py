"""The contract between the lab model and the kernel: after every step, the model's state
(what `--dry-run` reasons on) equals what `ip -j` reads from the real lab, and the model
fails the same lines the kernel fails, with the same message.

Run on every bundled lab that needs no container, every exercise solution, the defects
the model used to miss, and a hypothesis corpus of valid (and some failing) lines.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from conftest import ip_j
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labworlds import needs_containers

from nslab.base.errors import CommandError
from nslab.engine.dryrun import NOT_JUDGED, ModelLab
from nslab.handlers import HANDLERS
from nslab.kernel.netns import HOST
from nslab.lab import Lab, dry_run
from nslab.lang.labfile import parse_file, parse_text

LABS = Path(__file__).resolve().parent.parent / "nslab" / "labs"
# labs 06-08 start containers: the model takes a container's inside on trust, so only the lab's
# own namespaces could be compared there, and their verdicts are covered by tests/test_check.py
WITHOUT_CONTAINERS = sorted(p for p in LABS.glob("[0-9]*.lab") if not needs_containers(p))
SOLUTIONS = sorted((LABS / "exercises").glob("*.solution.lab"))


def _addr_ok(cidr: str) -> bool:
    return not ipaddress.ip_interface(cidr).ip.is_link_local


def kernel_picture(lab: Lab, names: list[str]) -> dict[str, Any]:
    """The oracle: each namespace as `ip -j` shows it, normalised to what the model holds."""
    out: dict[str, Any] = {}
    for ns in names:
        links = {}
        for x in ip_j(lab, ns, "-d", "addr", "show"):
            kind = (x.get("linkinfo") or {}).get("info_kind") or ("loopback" if x["ifname"] == "lo" else "?")
            addrs = sorted(f"{a['local']}/{a['prefixlen']}" for a in x.get("addr_info", [])
                           if _addr_ok(f"{a['local']}/{a['prefixlen']}"))
            links[x["ifname"]] = (kind, "UP" in x["flags"], x.get("master"), addrs,
                                  x["mtu"] if kind == "veth" else None)
        routes = sorted((_prefixed(r["dst"]), r.get("gateway"), r.get("dev"))
                        for six in ("-4", "-6") for r in ip_j(lab, ns, six, "route", "show")
                        if r.get("protocol") != "kernel" and not (r["dst"].startswith("fe80:") or r["dst"] == "multicast"))
        out[ns] = (links, routes)
    return out


def _prefixed(dst: str) -> str:
    """`ip -j` writes a host route without its /32 (or /128); nslab's listing keeps it."""
    return dst if dst == "default" or "/" in dst else f"{dst}/{128 if ':' in dst else 32}"


def model_picture(model: ModelLab) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ns, where in model.state.nss.items():
        links = {x.name: (x.kind, x.up, x.master, sorted(a for a in x.addrs if _addr_ok(a)),
                          x.mtu if x.kind == "veth" else None) for x in where.links.values()}
        routes = sorted((r.dst, r.gw, r.dev) for r in where.routes)
        out[ns] = (links, routes)
    return out


def run_both(commands: list[Any]) -> list[str]:
    """Each command on a real lab and on the model; after each, the two pictures must agree and so
    must the verdicts and messages.  Returns the lines that failed (both ways)."""
    failed = []
    model = ModelLab(HANDLERS)
    with Lab() as lab:
        for cmd in commands:
            out = lab.execute(cmd)
            if cmd.name in NOT_JUDGED:
                continue
            try:
                model.run(cmd)
                model_error = None
            except CommandError as e:
                model_error = e.message
            real_error = out.step.error if out.step is not None and out.step.outcome == "failed" else None
            assert (real_error is None) == (model_error is None), (cmd.text, real_error, model_error)
            if real_error is not None:
                assert model_error == real_error, cmd.text
                failed.append(cmd.text.strip())
            assert model.context == lab.context, cmd.text
            names = [HOST, *lab.nss.names()]
            assert sorted(names) == sorted(model.state.nss), cmd.text
            assert model_picture(model) == kernel_picture(lab, names), cmd.text
    return failed


@pytest.mark.parametrize("path", WITHOUT_CONTAINERS + SOLUTIONS, ids=lambda p: p.name)
def test_the_model_follows_the_kernel_step_by_step(path: Path) -> None:
    assert run_both(parse_file(str(path)).commands) == []


DEFECTS = {
    # the kernel takes IPv6 off a link set below 1280 bytes: the model used to keep it
    "mtu drops ipv6": "ns add a\nveth a:eth0 x0\na addr add eth0 fd00::1/64\na link eth0 up\n"
                      "a link eth0 mtu 1200\na addr del eth0 fd00::1/64\n",
    "ipv6 refused below 1280": "ns add a\nveth a:eth0 x0\na link eth0 mtu 1200\na addr add eth0 fd00::1/64\n",
    "down drops ipv6": "ns add a\nveth a:eth0 x0\na addr add eth0 fd00::1/64\na link eth0 up\na link eth0 down\n"
                       "a addr del eth0 fd00::1/64\n",
    # lo gets 127.0.0.1/8 and ::1 when it first comes up; down, it keeps the first and loses the second
    "lo first up": "ns add a\na link lo up\na link lo down\na addr del lo 127.0.0.1/8\na addr del lo ::1/128\n",
    "secondary goes with primary": "ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na addr add eth0 10.0.0.2/24\n"
                                   "a addr del eth0 10.0.0.1/24\na addr del eth0 10.0.0.2/24\n",
    # found by an adversarial review; each line up to the last is accepted by the kernel
    "0.0.0.0/0 is the default": "ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na link eth0 up\n"
                                "a route add 0.0.0.0/0 via 10.0.0.2\nundo\na route add 0.0.0.0/0 via 10.0.0.2\n"
                                "a route del 0.0.0.0/0\na route add ::/0 dev eth0\na route del default\n"
                                "a route add 0.0.0.0/0 via 10.0.0.2\na route add default via 10.0.0.2\n",
    "down when down keeps ipv6": "ns add a\nveth a:eth0 x0\na addr add eth0 fd00::1/64\na link eth0 down\n"
                                 "a addr del eth0 fd00::1/64\na addr del eth0 fd00::1/64\n",
    "the kernel's prefix route": "ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na link eth0 up\n"
                                 "a route add 10.0.0.0/24 dev eth0\n",
    "one prefix per ipv6 address": "ns add a\nveth a:eth0 x0\na addr add eth0 fd00::1/64\na addr add eth0 fd00::1/48\n",
    "gateway through a dev route": "ns add a\nveth a:eth0 x0\na link eth0 up\na route add 10.0.0.2/32 dev eth0\n"
                                   "a route add default via 10.0.0.2\na route add default via 10.0.0.2\n",
    "routes stay while ipv4 does": "ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na addr add eth0 10.1.0.1/24\n"
                                   "a link eth0 up\na route add 10.9.0.0/24 via 10.0.0.2\na addr del eth0 10.0.0.1/24\n"
                                   "a route del 10.9.0.0/24\na route del 10.9.0.0/24\n",
    "undo in a dry run": "ns add a\nundo\nns add a\nns add a\n",
    "lo is no bridge port": "ns add a\na bridge br0 add lo\n",
    "sysctls of the namespace's own interfaces": "ns add a\nveth a:eth0 x0\na sysctl net.ipv4.conf.eth0.forwarding 1\n"
                                                 "a link eth0 name wan\na sysctl net.ipv4.conf.eth0.forwarding 1\n",
    "route needs its gateway": "ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na link eth0 up\n"
                               "a route add default via 10.0.0.254\na addr del eth0 10.0.0.1/24\na route del default\n",
}


@pytest.mark.parametrize("name", DEFECTS)
def test_side_effects_the_model_used_to_miss(name: str) -> None:
    failed = run_both(parse_text(DEFECTS[name], f"{name}.lab").commands)
    assert failed, "each case ends with a line the kernel refuses"
    # the dry run stops where the real run stops, with the real run's words
    problems, _ = dry_run(parse_text(DEFECTS[name], f"{name}.lab").commands)
    assert [p.line for p in problems][:1] == failed[:1]


NAMES = st.sampled_from(["a", "b", "c"])
IFS = st.sampled_from(["eth0", "eth1", "v0"])
NETS = st.sampled_from(["10.0.0.1/24", "10.0.0.2/24", "10.1.0.1/24", "10.0.0.1/32", "fd00::1/64", "fd00::2/64",
                        "fd00::1/48"])
LINE = st.one_of(
    st.builds("ns add {}".format, NAMES),
    st.builds("ns del {}".format, NAMES),
    st.builds("veth {}:{} {}:{}".format, NAMES, IFS, NAMES, IFS),
    st.builds("veth {} {}".format, NAMES, NAMES),
    st.builds("{} link {} {}".format, NAMES, IFS, st.sampled_from(["up", "down", "mtu 1200", "mtu 1500", "name v0"])),
    st.builds("link {}:{} netns {}".format, NAMES, IFS, NAMES),
    st.builds("{} addr add {} {}".format, NAMES, IFS, NETS),
    st.builds("{} addr del {} {}".format, NAMES, IFS, NETS),
    st.builds("{} route add {} via {}".format, NAMES, st.sampled_from(["default", "10.9.0.0/24"]),
              st.sampled_from(["10.0.0.2", "10.1.0.9"])),
    st.builds("{} route add {} dev {}".format, NAMES, st.sampled_from(["10.8.0.0/24", "10.0.0.2/32", "::/0", "10.0.0.0/24"]),
              IFS),
    st.builds("{} route add 0.0.0.0/0 via {}".format, NAMES, st.sampled_from(["10.0.0.2", "10.8.0.1"])),
    st.builds("{} route add {} via fe80::1 dev {}".format, NAMES, st.sampled_from(["fd00:9::/64", "::/0"]), IFS),
    st.builds("{} route del {}".format, NAMES,
              st.sampled_from(["default", "10.9.0.0/24", "10.8.0.0/24", "0.0.0.0/0", "::/0", "10.0.0.2/32"])),
    st.builds("{} link {} mac {}".format, NAMES, IFS, st.sampled_from(["02:00:00:00:00:01", "00:00:00:00:00:00"])),
    st.builds("{} bridge br1 add {}".format, NAMES, st.sampled_from(["br0", "lo", "eth1"])),
    st.sampled_from(["undo", "undo 2", "enter a", "leave"]),
    st.builds("{} sysctl net.ipv4.conf.{}.forwarding 1".format, NAMES, IFS),
    st.builds("{} bridge br0 add {}".format, NAMES, IFS),
    st.builds("{} link del {}".format, NAMES, IFS),
)


# three namespaces wired in a triangle, so that most generated lines find what they name
WIRED = "ns add a b c\nveth a:eth0 b:eth0\nveth b:eth1 c:eth0\nveth c:eth1 a:eth1\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, min_size=3, max_size=14))
def test_the_model_follows_the_kernel_on_generated_labs(lines: list[str]) -> None:
    run_both(parse_text(WIRED + "".join(line + "\n" for line in lines), "gen.lab").commands)
