"""`pingall` and `perf` on the real kernel, judged by oracles nslab did not write: iputils `ping`
for each pair of the matrix, iperf3 (Debian's) run in the same namespaces for throughput, and
`tc qdisc ... tbf` set by the test itself (the oracle's side) for a rate-limited link."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import time

import pytest
from conftest import ip_j, iputils_ping, ns_path, nslab_cli

from nslab.base.results import PerfResult, PingMatrix
from nslab.lab import Lab, dry_run
from nslab.lang.labfile import parse_text

# a LAN of a, b, c on a bridge in the lab's host; d alone on a segment of its own with e; f has no address
LAN = """ns add a b c d e f
bridge add br0
veth a br0a
veth b br0b
veth c br0c
bridge br0 add br0a br0b br0c
a addr add eth0 10.0.0.1/24
b addr add eth0 10.0.0.2/24
c addr add eth0 10.0.0.3/24
veth d e
d addr add eth0 10.5.0.1/24
e addr add eth0 10.5.0.2/24
a link eth0 up
b link eth0 up
c link eth0 up
d link eth0 up
e link eth0 up
"""
PAIR = "ns add a b\nveth a b\na addr add eth0 10.0.0.1/24\nb addr add eth0 10.0.0.2/24\na link eth0 up\nb link eth0 up\n"


def build(lab: Lab, text: str) -> None:
    for line in text.splitlines():
        out = lab.run(line)
        assert out.ok, (line, out.events)


def matrix_of(lab: Lab, line: str) -> tuple[bool, PingMatrix]:
    out = lab.run(line)
    found = [e for e in out.events if isinstance(e, PingMatrix)]
    assert len(found) == 1, out.events
    return out.ok, found[0]


def test_pingall_matrix_matches_iputils_ping(lab: Lab) -> None:
    build(lab, LAN)
    ok, m = matrix_of(lab, "pingall")
    assert m.names == ["a", "b", "c", "d", "e"] and m.skipped == ["f"]
    assert len(m.pairs) == 5 * 4
    answered = {(p.src, p.dst) for p in m.pairs if p.received}
    # the LAN answers itself, d and e each other, and nothing crosses between the two
    assert answered == {(s, t) for s in "abc" for t in "abc" if s != t} | {("d", "e"), ("e", "d")}
    assert not ok  # silent pairs fail the step, as a ping with no reply does
    assert lab.last is not None and "12 of 20 pairs had no reply" in (lab.last.error or "")
    for p in m.pairs:  # the oracle, pair by pair
        assert iputils_ping(lab, p.src, p.addr, wait=0.5) == (p.received > 0), p
        if p.received:
            assert p.rtts and all(0 < x < 1000 for x in p.rtts)


def test_pingall_of_named_namespaces_counts_every_echo(lab: Lab) -> None:
    build(lab, LAN)
    ok, m = matrix_of(lab, "pingall -c 3 a b c")
    assert ok and m.names == ["a", "b", "c"]
    assert all(p.sent == 3 and p.received == 3 and p.loss == 0 for p in m.pairs)
    lab.run("c link eth0 down")
    ok, m = matrix_of(lab, "pingall -c 2 -W 0.2 a c")
    by = {(p.src, p.dst): p for p in m.pairs}
    assert not ok and (by["a", "c"].sent, by["a", "c"].received, by["a", "c"].loss) == (2, 0, 100)
    # c's only interface is down: no route to send by, in the kernel's words, and nothing sent
    assert (by["c", "a"].sent, by["c", "a"].error, by["c", "a"].loss) == (0, "Network is unreachable", 100)
    assert not iputils_ping(lab, "a", "10.0.0.3", wait=0.2)


def test_pingall_refuses_what_it_cannot_ping(lab: Lab) -> None:
    build(lab, LAN)
    out = lab.run("pingall a f")
    assert not out.ok and "two namespaces with an IPv4 address, found 1 (f: no IPv4 address)" in (out.step.error or "")
    out = lab.run("pingall a nosuch")
    assert not out.ok and "nosuch" in (out.step.error or "") and "internal" not in (out.step.error or "")


def star(n: int, routed: bool) -> str:
    """n hosts around a bridge in the lab's host, or (routed) around a router namespace r, each host
    on a /24 of its own with a default route through r (one ARP entry per host, not n - 1)."""
    if not routed:
        lines = ["bridge add br0"]
        for i in range(1, n + 1):
            lines += [f"ns add h{i}", f"veth h{i} br0p{i}", f"bridge br0 add br0p{i}", f"h{i} addr add eth0 10.0.0.{i}/24",
                      f"h{i} link eth0 up"]
        return "\n".join(lines)
    lines = ["ns add r", "r sysctl net.ipv4.ip_forward 1"]
    for i in range(1, n + 1):
        lines += [f"ns add h{i}", f"veth h{i}:eth0 r:e{i}", f"h{i} addr add eth0 10.{i}.0.2/24", f"r addr add e{i} 10.{i}.0.1/24",
                  f"h{i} link eth0 up", f"r link e{i} up", f"h{i} route add default via 10.{i}.0.1"]
    return "\n".join(lines)


@pytest.mark.parametrize("n,routed", [(50, True), (12, False)])  # a LAN of 12: 132 ARP entries of the machine-wide 1024
def test_pingall_on_a_star_answers_every_pair_quickly(lab: Lab, n: int, routed: bool) -> None:
    build(lab, star(n, routed))
    t0 = time.perf_counter()
    ok, m = matrix_of(lab, "pingall")
    took = time.perf_counter() - t0
    hosts = n + routed
    assert ok and len(m.pairs) == hosts * (hosts - 1) and all(p.received == 1 for p in m.pairs)
    assert took < 5.0, took  # a generous bound: bench/traffic.py measures it (docs/performance.md)
    for src, dst in (("h1", f"h{n}"), ("h7", "h3"), (f"h{n - 1}", f"h{n - 2}")):  # a sample, by the oracle
        assert iputils_ping(lab, src, m.addrs[dst])


def bash_loop(lab: Lab, pairs: list[tuple[str, str]]) -> float:
    """Seconds for iputils `ping -c1` to each (source, address), one process a pair from one bash
    loop, as a script (or Mininet's pingall) pings a lab; every one must answer."""
    listed = "".join(f"{ns_path(lab, src)} {addr}\n" for src, addr in pairs)
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", "set -e; while read -r ns addr; do nsenter --net=$ns ping -n -q -c1 -W1 $addr >/dev/null; done"],
                   input=listed, text=True, check=True)
    return time.perf_counter() - t0


def learned_v4(lab: Lab, ns: str) -> set[str]:
    """The oracle: the IPv4 neighbour entries `ip -j neigh show` lists in the namespace."""
    return {x["dst"] for x in ip_j(lab, ns, "-4", "neigh", "show")}


def test_pingall_on_a_lan_of_50_fits_the_machines_arp_table_and_beats_a_bash_loop(lab: Lab) -> None:
    """50 x 49 pairs on one bridge need 2,450 ARP entries; the kernel's table is one for the whole
    machine (gc_thresh3 = 1024).  pingall goes in waves and deletes the entries each wave made, so
    every pair answers, and what a namespace had learned before stays."""
    n = 50
    build(lab, star(n, False))
    assert iputils_ping(lab, "h1", "10.0.0.2")  # learned before the pingall: h1 of h2, h2 of h1
    t0 = time.perf_counter()
    ok, m = matrix_of(lab, "pingall")
    took = time.perf_counter() - t0
    assert ok and len(m.pairs) == n * (n - 1) and all(p.received == 1 and not p.error for p in m.pairs)
    # by the oracle: the entries pingall made are gone, the two learned before are kept
    assert (learned_v4(lab, "h1"), learned_v4(lab, "h2")) == ({"10.0.0.2"}, {"10.0.0.1"})
    assert all(learned_v4(lab, f"h{i}") == set() for i in range(3, n + 1))
    assert learned_v4(lab, "host") == set()
    # a sample of the pairs (every 49th: each source once, a different target each), by iputils ping
    sample = [(p.src, p.addr) for p in m.pairs[::n - 2]]
    assert len({src for src, _ in sample}) >= n - 1
    per_pair = bash_loop(lab, sample) / len(sample)
    # the same lab pinged pair by pair takes many times longer (docs/performance.md has the figures)
    assert per_pair * len(m.pairs) / took > 5, (per_pair, took)
    # a silent host does not hold up every wave: its pairs go again together, one echo counted each
    assert lab.run(f"link br0p{n} down").ok
    ok, m = matrix_of(lab, "pingall")
    silent = {(p.src, p.dst) for p in m.pairs if not p.received}
    assert not ok and silent == {(f"h{i}", f"h{n}") for i in range(1, n)} | {(f"h{n}", f"h{i}") for i in range(1, n)}
    assert all(p.sent == 1 for p in m.pairs)
    assert not iputils_ping(lab, "h1", m.addrs[f"h{n}"], wait=0.5) and iputils_ping(lab, "h1", m.addrs[f"h{n - 1}"])


def test_expect_pingall_in_a_check_file(lab: Lab, tmp_path) -> None:
    """The grader judges `expect pingall` as the REPL does, with `except` pairs either way round."""
    build(lab, LAN)
    goals = tmp_path / "goals.lab"
    goals.write_text("expect pingall except a-d d-b e-a b-e c-d e-c\nexpect pingall except a-d\nexpect pingall\n")
    out = lab.run(f"check {goals}")
    rows = [e for e in out.events if getattr(e, "key", "") == "check"][0].rows
    assert [r[2] for r in rows] == ["pass", "FAIL", "FAIL"], rows
    assert "no reply: " in rows[1][3] and "a->e" in rows[1][3]


def test_dry_run_resolves_traffic_lines_and_sends_nothing() -> None:
    good = PAIR + "pingall\nperf a b\nperf --udp a b\nexpect pingall except a-b\nexpect perf a b at least 1g\n"
    problems, n = dry_run(parse_text(good, "t.lab").commands)
    assert problems == [] and n == len(good.splitlines())
    bad = PAIR + "perf a nosuch\npingall a zz\nperf a a\nns add q\nperf a q\n"
    problems, _ = dry_run(parse_text(bad, "t.lab").commands)
    assert [p.where for p in problems] == ["t.lab:7", "t.lab:8", "t.lab:9", "t.lab:11"], problems
    assert "no IPv4 address" in problems[-1].message


def _iperf3(lab: Lab, a: str, b: str, addr: str, seconds: float) -> float:
    """Mbit/s that iperf3's server in B received from its client in A."""
    assert shutil.which("iperf3"), "iperf3 is the oracle here: apt-get install iperf3 (.ci/run does)"
    port = "5291"
    server = subprocess.Popen(["nsenter", f"--net={ns_path(lab, b)}", "iperf3", "-s", "-1", "-B", addr, "-p", port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # until it listens
            client = subprocess.run(["nsenter", f"--net={ns_path(lab, a)}", "iperf3", "-c", addr, "-p", port, "-t",
                                     str(seconds), "-J"], capture_output=True, text=True)
            doc = json.loads(client.stdout) if client.stdout.strip() else {}
            if client.returncode == 0 and "error" not in doc:
                return doc["end"]["sum_received"]["bits_per_second"] / 1e6
            time.sleep(0.1)
        raise AssertionError(client.stdout[-2000:] + client.stderr)
    finally:
        server.kill()
        server.wait()


def _perf(lab: Lab, line: str) -> PerfResult:
    out = lab.run(line)
    assert out.ok, out.events
    found = [e for e in out.events if isinstance(e, PerfResult)]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("shaped", [False, True])
def test_perf_agrees_with_iperf3_within_10_percent(lab: Lab, shaped: bool) -> None:
    """The same measure by both: what the receiver got over the test, in bits/s (iperf3's
    sum_received, with no interval omitted, its default), same direction, same 2 s; medians of
    alternating runs (5 on a plain veth, whose figure is the CPU's and moves with the machine's
    load; 3 when shaped).  Shaped, by the oracle's own `tc` (10 Mbit/s out of a's end), both must
    see 9 to 10.5 Mbit/s."""
    build(lab, PAIR)
    if shaped:
        subprocess.run(["nsenter", f"--net={ns_path(lab, 'a')}", "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                        "rate", "10mbit", "burst", "16k", "latency", "100ms"], check=True)
    ours, theirs = [], []
    for _ in range(3 if shaped else 5):  # alternating, so a busy moment of the shared machine hits both
        r = _perf(lab, "perf -t 2 a b")
        assert r.protocol == "tcp" and r.bytes > 0 and r.retransmits is not None and r.retransmits >= 0
        ours.append(r.mbps)
        theirs.append(_iperf3(lab, "a", "b", "10.0.0.2", 2))
    o, t = statistics.median(ours), statistics.median(theirs)
    assert abs(o / t - 1) <= 0.10, (ours, theirs)
    if shaped:
        assert 9.0 <= o <= 10.5 and 9.0 <= t <= 10.5, (ours, theirs)
        assert _perf(lab, "perf -t 1 b a").mbps > 50  # the other way is not shaped
    else:
        assert t > 1000, theirs  # a veth carries Gbit/s: the comparison is of the data path, not of a limit


def test_perf_udp_counts_every_datagram_at_its_rate(lab: Lab) -> None:
    build(lab, PAIR)
    r = _perf(lab, "perf -t 1 --udp --rate 20mbit a b")
    assert r.protocol == "udp" and r.sent is not None and r.received is not None
    assert 18 <= r.mbps <= 21, r
    assert r.lost == r.sent - r.received and r.lost <= r.sent * 0.01, r
    subprocess.run(["nsenter", f"--net={ns_path(lab, 'a')}", "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                    "rate", "5mbit", "burst", "16k", "latency", "50ms"], check=True)
    r = _perf(lab, "perf -t 1 --udp --rate 20mbit a b")  # four times what the link carries: most is lost
    assert r.mbps <= 6 and r.lost is not None and r.lost > r.sent * 0.6, r


@pytest.mark.parametrize("broken,words", [
    ("a addr del eth0 10.0.0.1/24", "Network is unreachable"),  # no route left: the kernel says so at once
    ("b link eth0 down", "no connection to 10.0.0.2 within 2 s"),  # a route, and nobody there
])
def test_perf_to_an_unreachable_namespace_fails_cleanly_and_fast(lab: Lab, broken: str, words: str) -> None:
    build(lab, PAIR + broken + "\n")
    for line in ("perf -t 5 a b", "perf -t 5 --udp a b"):
        t0 = time.perf_counter()
        out = lab.run(line)
        took = time.perf_counter() - t0
        assert not out.ok and took < 3.5, (line, took)
        error = out.step.error or ""
        assert "perf: " in error and "internal" not in error, error
        if "--udp" not in line:
            assert words in error, error
    out = lab.run("expect perf a b at least 1mbit")
    assert out.step.outcome == "unmet" and "perf: " in out.events[0].found


def test_expect_perf_holds_and_fails_by_the_rate(lab: Lab) -> None:
    build(lab, PAIR)
    assert lab.run("expect perf a b at least 10mbit").step.outcome == "ok"
    out = lab.run("expect perf a b at least 32gbit")  # above any veth here (about 12 Gbit/s), within the rates tc can write
    assert out.step.outcome == "unmet" and "Mbit/s over 2" in out.events[0].found


def test_perf_json_document() -> None:
    """`perf --json` is one JSON document; with nslab's --json the rest of the output goes to stderr."""
    proc = nslab_cli("--json", "run", "-", input=PAIR + "perf -t 0.5 --json a b\nperf -t 0.5 --udp --rate 5mbit --json a b\n"
                     "pingall\n")
    assert proc.returncode == 0, proc.stderr
    decoder = json.JSONDecoder()
    docs, text = [], proc.stdout.strip()
    while text:
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    (tcp, udp), matrix = [d["perf"] for d in docs[:2]], docs[2]
    assert matrix["skipped"] == [] and sorted((p["from"], p["to"]) for p in matrix["pingall"]) == [("a", "b"), ("b", "a")]
    assert all(p["received"] == p["sent"] == 1 and p["loss_percent"] == 0 and p["rtt_avg_ms"] > 0 for p in matrix["pingall"])
    assert set(tcp) == {"src", "dst", "addr", "protocol", "seconds", "bytes", "mbps", "retransmits"}
    assert set(udp) == {"src", "dst", "addr", "protocol", "seconds", "bytes", "mbps", "sent", "received", "lost", "loss_percent"}
    assert (tcp["src"], tcp["dst"], tcp["addr"], tcp["protocol"]) == ("a", "b", "10.0.0.2", "tcp")
    assert tcp["mbps"] > 0 and isinstance(tcp["retransmits"], int)
    assert udp["protocol"] == "udp" and 4 <= udp["mbps"] <= 5.5 and udp["sent"] >= udp["received"] > 0


def test_the_toolbars_quick_recheck_runs_expect_perf_briefly(lab: Lab) -> None:
    """After each step of an open exercise the toolbar re-grades its goals (faces/goalbar.py): an
    `expect perf` goal is a 0.3 s test there, and the full 2 s one under `goals` and `check`."""
    from nslab.engine.tx import PlanTx
    from nslab.handlers.goals import grade

    build(lab, PAIR)
    cmd = parse_text("expect perf a b at least 1mbit\n", "g.lab").commands[0]
    ctx = lab.ctx("host", cmd, PlanTx(lab.kernel))
    for quick, lasted in ((True, (0.3, 0.9)), (False, (2.0, 2.9))):
        (verdict,) = grade(ctx, [(cmd, "host")], quick=quick)
        seconds = float(re.search(r"over ([0-9.]+) s", verdict.found).group(1))
        assert verdict.ok and lasted[0] <= seconds < lasted[1], (quick, verdict)
