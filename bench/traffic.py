"""`python3 -m bench.traffic`: pingall and perf against the tools people use for them.

- pingall on a LAN of 50 hosts on one bridge (2,450 pairs: more ARP entries than the machine's
  table holds at once, so pingall goes in waves), on a routed star of 50 hosts (51 namespaces,
  2,550 pairs) and on a LAN of 12, median of ROUNDS; iputils `ping -c1` run by `nsenter` from one
  bash loop for a sample of the same pairs, one after another as a script (or Mininet's pingall)
  would, scaled to every pair.
- perf against iperf3 in the same namespaces, alternating, on a plain veth and on one that the
  benchmark shapes itself with `tc qdisc ... tbf rate 10mbit` (the oracle's side).

As root; the process isolates itself first (nslab.kernel.isolate), so nothing outside changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _build(lab, text: str) -> None:
    for line in text.splitlines():
        out = lab.run(line)
        assert out.ok, (line, out.events)


def _pingall(lab, rounds: int) -> tuple[float, int, int]:
    from nslab.base.results import PingMatrix

    times, pairs, answered = [], 0, 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = lab.run("pingall")
        times.append(time.perf_counter() - t0)
        m = next(e for e in out.events if isinstance(e, PingMatrix))
        pairs, answered = len(m.pairs), sum(1 for p in m.pairs if p.received)
    return statistics.median(times), pairs, answered


def _iputils(sample: list[tuple[str, str]]) -> float:
    """Seconds per pair for iputils ping, one process per pair, from one bash loop."""
    listed = "".join(f"/run/netns/{src} {addr}\n" for src, addr in sample)
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", "set -e; while read -r ns addr; do nsenter --net=$ns ping -n -q -c1 -W1 $addr >/dev/null; done"],
                   input=listed, text=True, check=True)
    return (time.perf_counter() - t0) / len(sample)


def _iperf3(a: str, b: str, addr: str, seconds: float) -> float:
    server = subprocess.Popen(["nsenter", f"--net=/run/netns/{b}", "iperf3", "-s", "-1", "-B", addr, "-p", "5299"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            c = subprocess.run(["nsenter", f"--net=/run/netns/{a}", "iperf3", "-c", addr, "-p", "5299", "-t", f"{seconds:g}",
                                "-J"], capture_output=True, text=True)
            if c.returncode == 0 and "error" not in json.loads(c.stdout):
                return json.loads(c.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
            time.sleep(0.1)
        raise RuntimeError(c.stderr)
    finally:
        server.kill()
        server.wait()


def _perf(lab, seconds: float) -> float:
    from nslab.base.results import PerfResult

    out = lab.run(f"perf -t {seconds} a b")
    return next(e for e in out.events if isinstance(e, PerfResult)).mbps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0, help="length of each throughput test")
    args = p.parse_args(argv)
    from nslab.kernel import isolate

    isolate.enter(private_state=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' very labs
    from test_traffic import PAIR, star

    from nslab.lab import Lab

    rows = []
    for n, routed, what in ((50, False, "LAN of 50 on one bridge (in waves)"), (50, True, "routed star of 50 (51 namespaces)"),
                            (12, False, "LAN of 12 on one bridge")):
        with Lab() as lab:
            _build(lab, star(n, routed))
            lab.run("pingall")  # ARP settles once, as it would for any tool run second
            took, pairs, answered = _pingall(lab, args.rounds)
            from nslab.base.results import PingMatrix

            m = next(e for e in lab.run("pingall").events if isinstance(e, PingMatrix))
            sample = [(p.src, p.addr) for p in m.pairs[:: max(1, len(m.pairs) // 60)]]
            per = _iputils(sample)
            rows.append(f"| pingall, {what} | {pairs} | {answered} | {took * 1000:.0f} ms | "
                        f"{per * pairs:.2f} s ({per * 1000:.1f} ms a pair, {len(sample)} sampled) | {per * pairs / took:.0f}x |")
    print("| lab | pairs | answered | nslab pingall (median) | iputils ping, one per pair | ratio |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| link | nslab perf, Mbit/s | iperf3, Mbit/s | perf / iperf3 |")
    print("|---|---|---|---|")
    for shaped in (False, True):
        with Lab() as lab:
            _build(lab, PAIR)
            if shaped:
                subprocess.run(["nsenter", "--net=/run/netns/a", "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                                "rate", "10mbit", "burst", "16k", "latency", "100ms"], check=True)
            ours, theirs = [], []
            for _ in range(max(1, args.rounds // 2)):  # alternating, so a busy moment hits both
                ours.append(_perf(lab, args.seconds))
                theirs.append(_iperf3("a", "b", "10.0.0.2", args.seconds))
            o, t = statistics.median(ours), statistics.median(theirs)
            what = "veth, tbf rate 10mbit" if shaped else "plain veth"
            print(f"| {what} | {o:.1f} ({', '.join(f'{x:.0f}' for x in ours)}) | {t:.1f} "
                  f"({', '.join(f'{x:.0f}' for x in theirs)}) | {o / t:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
