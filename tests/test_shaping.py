"""Shaping, for real: `tc -j qdisc show` (iproute2, run by nsenter) is the oracle for what each
interface carries after `link EP rate`, `clear`, `--both` and undo; bash runs `export sh` in a
fresh namespace; iperf3 measures a rate limit.  This kernel has no sch_netem: `delay` is tested
for its refusal, which must change nothing."""

from __future__ import annotations

import json
import subprocess
import threading

from conftest import ns_path

from nslab.base.results import PerfResult
from nslab.kernel import tc
from nslab.lab import Lab

NO_NETEM = "this kernel has no netem (sch_netem); delay, loss, duplicate, corrupt and reorder need it"


def qdiscs(lab: Lab, ns: str, dev: str) -> list[dict]:
    """The oracle: `tc -j qdisc show dev DEV` inside the namespace, without the counters."""
    out = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "tc", "-j", "qdisc", "show", "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    return [{k: v for k, v in q.items() if k != "refcnt"} for q in json.loads(out or "[]")]


def root(lab: Lab, ns: str, dev: str) -> dict:
    (top,) = [q for q in qdiscs(lab, ns, dev) if q.get("root")]
    return top


def tc_builds(*args: str) -> dict:
    """The options iproute2's own `tc qdisc add dev X root handle 1: ARGS` gives a fresh veth."""
    out = subprocess.run(["unshare", "-n", "sh", "-c", "ip link add name x type veth peer name y && "
                          f"tc qdisc add dev x root handle 1: {' '.join(args)} && tc -j qdisc show dev x"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["options"]


def ok(lab: Lab, *lines: str) -> list:
    out = []
    for line in lines:
        o = lab.run(line)
        assert o.ok, (line, o.error)
        out += o.events
    return out


def pair(lab: Lab) -> None:
    ok(lab, "ns add a b", "veth a:eth0 b:eth0", "a addr add eth0 10.0.0.1/24", "b addr add eth0 10.0.0.2/24",
       "a link eth0 up", "b link eth0 up")


def test_rate_sets_tbf_with_the_rate_burst_and_latency_asked(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit burst 32k latency 20ms")
    q = root(lab, "a", "eth0")
    assert (q["kind"], q["handle"]) == ("tbf", "1:")
    # what tc itself makes of the same words (it shows the burst through psched ticks: 32767)
    assert q["options"] == tc_builds("tbf rate 10mbit burst 32k latency 20ms")
    assert q["options"]["rate"] == 1_250_000 and q["options"]["lat"] == 20_000  # bytes/s, us
    assert 32767 <= q["options"]["burst"] <= 32768
    assert root(lab, "b", "eth0")["kind"] == "noqueue"  # a qdisc shapes only what leaves its own end
    # the defaults: 10 ms of the rate (two full frames at least) and 50 ms of queue
    ok(lab, "b link eth0 rate 1gbit")
    assert root(lab, "b", "eth0")["options"] == tc_builds("tbf rate 1gbit burst 1250000 latency 50ms")
    assert root(lab, "b", "eth0")["options"]["rate"] == 125_000_000
    ok(lab, "b link eth0 rate 100kbit")
    assert root(lab, "b", "eth0")["options"] == tc_builds("tbf rate 100kbit burst 3028 latency 50ms")


def test_link_ls_shows_what_each_interface_carries(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit burst 32k latency 20ms")
    (table,) = [e for e in ok(lab, "link ls a") if hasattr(e, "rows")]
    carries = {r[1]: r[table.columns.index("carries")] for r in table.rows}
    assert carries == {"lo": "", "eth0": "tbf rate 10mbit burst 32768b latency 20ms"}


def test_both_shapes_the_peer_end_and_clear_both_takes_both_off(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 5mbit burst 16k --both")
    for ns in ("a", "b"):
        assert root(lab, ns, "eth0")["options"]["rate"] == 625_000
    ok(lab, "b link eth0 clear --both")
    assert root(lab, "a", "eth0")["kind"] == root(lab, "b", "eth0")["kind"] == "noqueue"
    out = lab.run("a link eth0 clear")
    assert out.ok and "carried no shaping" in out.events[0].text
    lo = qdiscs(lab, "a", "lo")
    out = lab.run("a link lo rate 1mbit --both")  # lo has no other end: said, and nothing made
    assert out.error == "--both: a:lo has no other end (only a veth has two)"
    assert qdiscs(lab, "a", "lo") == lo


def test_undo_puts_back_the_qdisc_that_was_there(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit burst 32k latency 20ms")
    first = root(lab, "a", "eth0")
    ok(lab, "a link eth0 rate 2mbit burst 8k latency 5ms")
    ok(lab, "undo")
    assert root(lab, "a", "eth0") == first
    ok(lab, "a link eth0 clear", "undo")  # the undo of clear restores the tbf it took off
    assert root(lab, "a", "eth0") == first
    ok(lab, "undo")
    assert root(lab, "a", "eth0")["kind"] == "noqueue"  # none, as before the first rate


def test_undo_restores_a_qdisc_nslab_did_not_make_byte_for_byte(lab):
    pair(lab)
    subprocess.run(["nsenter", f"--net={ns_path(lab, 'a')}", "tc", "qdisc", "add", "dev", "eth0", "root",
                    "handle", "7:", "pfifo", "limit", "33"], check=True)
    theirs = root(lab, "a", "eth0")
    ok(lab, "a link eth0 rate 1mbit", "a link eth0 clear", "undo", "undo")
    assert root(lab, "a", "eth0") == theirs == {"kind": "pfifo", "handle": "7:", "root": True,
                                                "options": {"limit": 33}}


def test_undo_of_both_and_reset_leave_no_qdisc(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 3mbit --both")
    assert root(lab, "a", "eth0")["kind"] == root(lab, "b", "eth0")["kind"] == "tbf"
    ok(lab, "undo")  # one step, both ends: one undo takes both off
    assert root(lab, "a", "eth0")["kind"] == root(lab, "b", "eth0")["kind"] == "noqueue"
    ok(lab, "b link eth0 clear --both", "undo")  # the undo of a clear that took nothing off makes nothing
    assert root(lab, "a", "eth0")["kind"] == root(lab, "b", "eth0")["kind"] == "noqueue"
    ok(lab, "a link eth0 rate 3mbit --both", "b link eth0 rate 1mbit", "reset")
    assert lab.nss.names() == []


def test_delay_is_refused_cleanly_and_changes_nothing(lab):
    pair(lab)
    ok(lab, "b link eth0 rate 4mbit")
    before = {ns: qdiscs(lab, ns, "eth0") for ns in ("a", "b")}
    steps = len(lab.journal.steps)
    for line in ("a link eth0 delay 10ms", "a link eth0 delay 10ms jitter 1ms loss 1% --both",
                 "b link eth0 delay 1ms --both", "b link eth0 delay 5ms duplicate 1% corrupt 0.1% reorder 25%"):
        out = lab.run(line)
        assert not out.ok and out.error == NO_NETEM, (line, out.error)
        assert {ns: qdiscs(lab, ns, "eth0") for ns in ("a", "b")} == before, line
    assert root(lab, "host", "lo")["kind"] == "noqueue"  # the probe made nothing on lo either
    assert [s.outcome for s in lab.journal.steps[steps:]] == ["failed"] * 4
    ok(lab, "undo")  # the failed steps undo nothing: the rate goes
    assert root(lab, "b", "eth0")["kind"] == "noqueue"


def test_the_kernel_answers_which_qdisc_kinds_it_has(lab):
    nl = lab.nss.host.nl
    assert tc.has_kind(nl, "tbf") and tc.has_kind(nl, "htb")
    assert not tc.has_kind(nl, "netem") and not tc.has_kind(nl, "no_such_qdisc")
    assert root(lab, "host", "lo")["kind"] == "noqueue"
    assert tc.configured("netem") is False and tc.configured("tbf") is True  # what the dry run reads


def test_a_burst_below_the_mtu_is_warned_about(lab):
    pair(lab)
    events = ok(lab, "a link eth0 rate 1mbit burst 1000")
    warned = [e.text for e in events if getattr(e, "style", "") == "warn"]
    assert warned == ["burst 1000b is below one full frame on a:eth0 (MTU 1500 + 14): "
                      "tbf drops every packet larger than its burst"]
    assert not [e for e in ok(lab, "a link eth0 rate 1mbit burst 2000") if getattr(e, "style", "") == "warn"]


def test_export_sh_run_by_bash_builds_the_same_qdiscs(lab, tmp_path):
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit burst 32k latency 20ms", "b link eth0 rate 7500kbit --both",
       "a link eth0 clear", "a link eth0 rate 300kbit burst 3k latency 1s", f"export sh {tmp_path}/build.sh")
    want = {ns: qdiscs(lab, ns, "eth0") for ns in ("a", "b")}
    dump = "for ns in a b; do tc -n $ns -j qdisc show dev eth0; echo; done"
    proc = subprocess.run(["unshare", "-n", "-m", "sh", "-c", "mount -t tmpfs nslab-test /run/netns && "
                           f"bash {tmp_path}/build.sh >/dev/null && {dump}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = [[{k: v for k, v in q.items() if k != "refcnt"} for q in json.loads(line)]
           for line in proc.stdout.splitlines() if line.strip()]
    assert got == [want["a"], want["b"]]
    assert want["a"][0]["options"] == tc_builds("tbf rate 300kbit burst 3k latency 1s")


def iperf3(lab: Lab, server_ns: str, client_ns: str, address: str, seconds: int = 4) -> float:
    """Mbit/s iperf3 measured from CLIENT_NS to the server in SERVER_NS (the receiver's figure)."""
    server = subprocess.Popen(["nsenter", f"--net={ns_path(lab, server_ns)}", "iperf3", "-s", "-1", "-B", address],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            probe = subprocess.run(["nsenter", f"--net={ns_path(lab, server_ns)}", "ss", "-Hltn", "sport = :5201"],
                                   capture_output=True, text=True)
            if probe.stdout.strip():
                break
            threading.Event().wait(0.05)
        out = subprocess.run(["nsenter", f"--net={ns_path(lab, client_ns)}", "iperf3", "-c", address, "-t",
                              str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 30)
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        server.wait(timeout=10) if server.poll() is not None else server.kill()
        server.wait()


def test_a_10mbit_rate_gives_9_to_10_5_mbit_by_perf_and_by_iperf3(lab):
    """nslab's own `link rate` (not a tc line of the test's), measured both ways in the same namespaces."""
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit")
    (found,) = [e for e in ok(lab, "perf -t 4 a b") if isinstance(e, PerfResult)]
    theirs = iperf3(lab, "b", "a", "10.0.0.2")
    assert 9.0 <= found.mbps <= 10.5 and 9.0 <= theirs <= 10.5, (found.mbps, theirs)
    assert abs(found.mbps - theirs) <= 0.1 * theirs, (found.mbps, theirs)


def test_iperf3_through_a_10mbit_rate_sees_9_to_10_5_mbit(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 10mbit")
    assert 9.0 <= iperf3(lab, "b", "a", "10.0.0.2") <= 10.5
    # the other direction is not shaped: only what leaves a:eth0 is
    assert iperf3(lab, "a", "b", "10.0.0.1", seconds=2) > 100


def test_pyroute2_is_imported_only_when_a_lab_shapes():
    import os
    import sys

    from conftest import ROOT
    code = (
        "import sys\n"
        "from nslab.kernel import isolate; isolate.enter()\n"
        "from nslab.lab import Lab\n"
        "with Lab() as lab:\n"
        "    for line in ('ns add a b', 'veth a:eth0 b:eth0', 'a link eth0 up', 'link ls a', 'show',\n"
        "                 'a link eth0 clear', 'a link eth0 delay 1ms', 'a link eth0 flap 1 --down 0.01 --up 0.01'):\n"
        "        lab.run(line)\n"
        "    print('pyroute2' in sys.modules)\n"
        "    assert lab.run('a link eth0 rate 1mbit').ok\n"
        "    print('pyroute2' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NSLAB_ISOLATED"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]


def test_both_is_atomic_a_refusal_at_the_peer_end_leaves_the_first_end_as_it_was(lab):
    pair(lab)
    ok(lab, "a link eth0 rate 2mbit")
    first = qdiscs(lab, "a", "eth0")
    tc_b = ["nsenter", f"--net={ns_path(lab, 'b')}", "tc"]
    subprocess.run([*tc_b, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"], check=True)
    subprocess.run([*tc_b, "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate", "1mbit"],
                   check=True)
    tree = qdiscs(lab, "b", "eth0")
    out = lab.run("a link eth0 rate 1mbit --both")
    assert out.error == ("b:eth0 carries a classful htb (its classes are not kept) that nslab cannot put back; "
                         "remove it first (tc qdisc del dev eth0 root)")
    assert qdiscs(lab, "a", "eth0") == first and qdiscs(lab, "b", "eth0") == tree
    assert lab.run("b link eth0 clear").error == out.error
    # a tbf with a qdisc of its own below it: a tree, refused alike
    subprocess.run([*tc_b, "qdisc", "del", "dev", "eth0", "root"], check=True)
    subprocess.run([*tc_b, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "tbf", "rate", "1mbit",
                    "burst", "8k", "latency", "10ms"], check=True)
    subprocess.run([*tc_b, "qdisc", "add", "dev", "eth0", "parent", "1:1", "handle", "10:", "pfifo", "limit", "5"],
                   check=True)
    tree = qdiscs(lab, "b", "eth0")
    out = lab.run("a link eth0 clear --both")
    assert out.error == ("b:eth0 carries a qdisc tree (tbf with pfifo below) that nslab cannot put back; "
                         "remove it first (tc qdisc del dev eth0 root)")
    assert qdiscs(lab, "a", "eth0") == first and qdiscs(lab, "b", "eth0") == tree


def test_the_netem_refusal_holds_when_lo_already_carries_a_qdisc(lab):
    pair(lab)
    subprocess.run(["nsenter", f"--net={ns_path(lab, 'a')}", "tc", "qdisc", "add", "dev", "lo", "root", "handle", "5:",
                    "pfifo", "limit", "9"], check=True)
    lo, eth0 = qdiscs(lab, "a", "lo"), qdiscs(lab, "a", "eth0")
    assert lab.run("a link eth0 delay 10ms").error == NO_NETEM
    assert qdiscs(lab, "a", "lo") == lo and qdiscs(lab, "a", "eth0") == eth0
