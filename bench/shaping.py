"""What shaping costs: pyroute2's import (only a lab that shapes pays it), encoding one tbf with
pyroute2's tc classes, sending it on nslab's socket, a whole `link EP rate` step, and `tc` run by
nsenter for comparison.  `python3 -m bench.shaping` (as root; the lab is isolated: a private network
and mount namespace, nothing reaches the machine).  The figures are in docs/performance.md."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def fresh_import_ms(rounds: int = 5) -> list[float]:
    """`from pyroute2.netlink.rtnl.tcmsg import tcmsg` in a fresh interpreter, each round."""
    code = "import time;t=time.perf_counter();from pyroute2.netlink.rtnl.tcmsg import tcmsg;print(time.perf_counter()-t)"
    return [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) * 1e3
            for _ in range(rounds)]


def main() -> None:
    imports = fresh_import_ms()
    from nslab.kernel import isolate

    isolate.enter()
    from nslab.kernel import tc
    from nslab.lab import Lab

    with Lab() as lab:
        for line in ("ns add a b", "veth a:eth0 b:eth0", "a link eth0 up", "b link eth0 up", "link ls a"):
            assert lab.run(line).ok, line
        before = any(m.startswith("pyroute2") for m in sys.modules)
        nl = lab.nss.get("a").nl
        index = nl.index("eth0")
        assert index is not None
        n = 300
        encodes, bodies = [], []
        for i in range(n):
            t = time.perf_counter()
            bodies.append(tc.tbf_message(index, 10_000_000 + i * 1000, 32768, 20_000))
            encodes.append(time.perf_counter() - t)
        encode = statistics.median(encodes)
        t = time.perf_counter()
        for body in bodies:  # each a different rate: the kernel really changes the tbf
            tc.create(nl, body)
        send = (time.perf_counter() - t) / n
        steps = []
        for i in range(50):
            t = time.perf_counter()
            assert lab.run(f"a link eth0 rate {i + 1}mbit").ok
            steps.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(50):
            assert lab.run("a link ls").ok
        listing = (time.perf_counter() - t) / 50
        t = time.perf_counter()
        for i in range(20):
            subprocess.run(["nsenter", "--net=/run/netns/a", "tc", "qdisc", "replace", "dev", "eth0", "root", "handle",
                            "1:", "tbf", "rate", f"{i + 1}mbit", "burst", "32k", "latency", "20ms"], check=True)
        by_tc = (time.perf_counter() - t) / 20
    print(f"pyroute2 imported by a lab that does not shape: {before}")
    print(f"import of pyroute2's tc classes, fresh interpreter: median {statistics.median(imports):.0f} ms "
          f"(min {min(imports):.0f}, max {max(imports):.0f})")
    print(f"encode one tbf (pyroute2 tcmsg + rate table): median {encode * 1e6:.0f} us (first {encodes[0] * 1e3:.1f} ms)")
    print(f"send it (RTM_NEWQDISC replace + ack, nslab's socket): {send * 1e6:.0f} us")
    print(f"a whole `link eth0 rate` step (reads for undo, journal, changes): median {statistics.median(steps) * 1e3:.2f} ms")
    print(f"`link ls a` with its qdisc dump: {listing * 1e3:.2f} ms")
    print(f"nsenter + tc qdisc replace (one process each): {by_tc * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
