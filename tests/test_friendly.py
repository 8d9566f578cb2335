"""What people who know `ip` type, and what they get: hints, typos caught, programs kept."""

from __future__ import annotations

import pytest
from conftest import ip_j, nslab_cli

from nslab.base.errors import ParseError
from nslab.base.results import Message
from nslab.lab import Lab
from nslab.lang.parser import parse_line


def test_short_options_take_attached_values():
    assert parse_line("ping -c1 -W0.5 10.0.0.1").values == {"c": 1, "W": 0.5, "target": "10.0.0.1"}


@pytest.mark.parametrize(("line", "words"), [
    ("ip netns add foo", "iproute2"),
    ("ip link set veth0 up", "exec ip"),
    ("link set a:eth0 up", "no `set`"),
    ("addr add 10.0.0.1/24 dev eth0", "the interface first"),
    ("link show", "`link ls`"),
    ("ns delete x", "`ns del NAME`"),
])
def test_iproute2_habits_get_a_hint(line, words):
    with pytest.raises(ParseError) as e:
        parse_line(line)
    assert words in e.value.message


def test_a_mistyped_command_is_caught_before_anything_runs(tmp_path):
    path = tmp_path / "t.lab"
    path.write_text("ns add ns1 ns2\nvet ns1 ns2\n")
    r = nslab_cli("--no-color", "run", str(path))
    assert r.returncode == 2
    assert f"{path}:2:1" in r.stdout and "did you mean veth?" in r.stdout and "nothing ran" in r.stdout
    assert "added ns1" not in r.stdout


def test_a_namespace_made_earlier_is_no_typo(tmp_path):
    path = tmp_path / "t.lab"
    path.write_text("ns add link1\nlink1 ip link set lo up\n")  # close to `link`, but made on line 1
    r = nslab_cli("--no-color", "run", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_save_keeps_programs_and_the_saved_lab_rebuilds_what_they_did(tmp_path):
    with Lab() as first:  # labs of one process share /run/netns: the rebuild comes after this one
        for line in ["ns add a", "a ip link set lo up", f"save {tmp_path}/s.lab", f"export sh {tmp_path}/s.sh"]:
            out = first.run(line)
            assert out.ok, out.error
    assert (tmp_path / "s.lab").read_text() == "ns add a\na ip link set lo up\n"
    assert "ip netns exec a ip link set lo up" in (tmp_path / "s.sh").read_text()
    with Lab() as again:
        for out in again.run_file(str(tmp_path / "s.lab")):
            assert out.ok, out.error
        assert "UP" in ip_j(again, "a", "link", "show", "dev", "lo")[0]["flags"]


def test_ipv6_is_reachable_right_after_its_addresses_are_added(lab):
    # the new addresses are tentative while duplicate address detection runs: ping waits for them
    for line in ["ns add a b", "veth a b", "a link eth0 up", "b link eth0 up",
                 "a addr add eth0 fd00::1/64", "b addr add eth0 fd00::2/64"]:
        assert lab.run(line).ok
    out = lab.run("a expect reach fd00::2")
    assert out.ok, out.events


def test_a_port_taken_from_another_bridge_says_so(lab):
    for line in ["veth v0 v1", "bridge br0 add v0"]:
        assert lab.run(line).ok
    out = lab.run("bridge br9 add v0")
    assert out.ok
    assert any(isinstance(e, Message) and "v0 leaves bridge br0 for br9" in e.text for e in out.events)
    assert ip_j(lab, "host", "link", "show", "dev", "v0")[0]["master"] == "br9"


def test_ns_ls_shows_namespaces_only_processes_hold(lab):
    import subprocess

    from nslab.base.results import Table

    proc = subprocess.Popen(["unshare", "-n", "sleep", "30"])
    try:
        import time

        for _ in range(50):  # until unshare has exec'd sleep in its new namespace
            with open(f"/proc/{proc.pid}/comm") as f:
                if f.read().strip() == "sleep":
                    break
            time.sleep(0.02)
        rows = next(e for e in lab.run("ns ls --all").events if isinstance(e, Table)).rows
        assert [f"pid {proc.pid} (sleep)", "process", 1] in rows  # only lo: a fresh namespace
        assert lab.run(f"ns link {proc.pid} held").ok
        rows = next(e for e in lab.run("ns ls --all").events if isinstance(e, Table)).rows
        assert not any(str(r[0]).startswith(f"pid {proc.pid} ") for r in rows)  # now it has a name
        assert any(r[0] == "held" for r in rows)
    finally:
        proc.kill()
        proc.wait()
