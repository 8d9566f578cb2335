"""Does the web view slow the lab?  A 200-namespace star built step by step, with the web view
serving 20 open pages (SSE clients reading every picture) and with no server, round by round in one
run (ABBA order, so a drift of the machine falls on both), and the step times compared.

    python3 -m bench.web [--size 200] [--pages 20] [--rounds 4]

The lab is a child process that isolates itself (nslab.Lab); the pages are this process, outside
it, as a browser would be.  tests/test_web_live.py runs the same, smaller, and asserts the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LAB_SIDE = r"""
import json, sys, time
from nslab.lab import Lab
from nslab.faces.web.server import WebView

def star(lab, prefix, n):  # n namespaces, each on a cable to one bridge: each step's seconds
    took = []
    for line in [f"bridge add {prefix}br"] + [x for i in range(n) for x in (
            f"ns add {prefix}{i}", f"veth {prefix}v{i} {prefix}{i}:eth0", f"bridge {prefix}br add {prefix}v{i}")]:
        t0 = time.perf_counter()
        assert lab.run(line).ok, line
        took.append(time.perf_counter() - t0)
    return took

with Lab() as lab:
    for line in sys.stdin:
        how, prefix, n = line.split()
        view = WebView(lab) if how == "serve" else None
        print(view.url if view else "-", flush=True)
        sys.stdin.readline()  # go: the pages are open
        took = star(lab, prefix, int(n))
        print(json.dumps(took), flush=True)
        sys.stdin.readline()  # down: the pages saw the whole star
        costs = [view.live.cost, view.live.rates_cost] if view else None
        assert lab.run("ns del " + " ".join(f"{prefix}{i}" for i in range(int(n)))).ok
        assert lab.run(f"link del {prefix}br").ok
        if view:
            view.stop()
        print(json.dumps(costs), flush=True)
"""


class Pages:
    """N open SSE streams on one thread, each keeping the newest picture it was sent."""

    def __init__(self, url: str, n: int) -> None:
        u = urllib.parse.urlsplit(url)
        self.sel = selectors.DefaultSelector()
        self.newest: dict[int, bytes] = {}
        self.frames = [0] * n
        self.bufs = [b""] * n
        for i in range(n):
            s = socket.create_connection((u.hostname, u.port))
            s.sendall(f"GET /events?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, i)
        self.stopped = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stopped:
            for key, _ in self.sel.select(0.1):
                i = key.data
                try:
                    data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(key.fileobj)
                    continue
                buf = self.bufs[i] + data
                *frames, self.bufs[i] = buf.split(b"\n\n")
                for frame in frames:
                    self.frames[i] += 1
                    at = frame.find(b"data: {")
                    if at >= 0 and b"event:" not in frame[:at]:
                        self.newest[i] = frame[at + 6:]

    def wait(self, ok: Any, timeout: float) -> bool:
        """Until every page's newest picture (its bytes: this process must not steal the lab's CPU
        parsing them) passes OK."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.newest) == len(self.frames) and all(ok(p) for p in list(self.newest.values())):
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self.stopped = True
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]


def compare(size: int = 200, pages: int = 20, rounds: int = 4) -> dict[str, Any]:
    """Build the star ROUNDS times with the server and ROUNDS without, ABBA; per round the steps' total."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NSLAB_ISOLATED", None)
    proc = subprocess.Popen([sys.executable, "-c", LAB_SIDE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None
    order = [("bare", "serve"), ("serve", "bare")] * ((rounds + 1) // 2)
    out: dict[str, Any] = {"bare": [], "serve": [], "seen": [], "costs": [], "frames": [], "steps": {"bare": [], "serve": []}}
    try:
        for k, (a, b) in enumerate(order[:rounds]):
            for how in (a, b):
                prefix = f"{how[0]}{k}x"
                proc.stdin.write(f"{how} {prefix} {size}\n")
                proc.stdin.flush()
                url = proc.stdout.readline().strip()
                open_pages = Pages(url, pages) if how == "serve" else None
                if open_pages is not None:
                    assert open_pages.wait(lambda p: True, 10), "the pages got no first picture"
                proc.stdin.write("go\n")
                proc.stdin.flush()
                took = json.loads(proc.stdout.readline())
                t_built = time.monotonic()
                out[how].append(sum(took))
                out["steps"][how].extend(took)
                if open_pages is not None:
                    ns, step = f'"{prefix}{size - 1}"'.encode(), f'{prefix}br add {prefix}v{size - 1}"'.encode()
                    whole = open_pages.wait(lambda p, ns=ns, step=step: ns in p and step in p, 10)
                    out["seen"].append(time.monotonic() - t_built if whole else None)
                    out["frames"].append(statistics.median(open_pages.frames))
                    if k == 0:  # the counters read with the whole star drawn: two readings
                        time.sleep(2.2)
                    open_pages.close()
                proc.stdin.write("down\n")
                proc.stdin.flush()
                costs = json.loads(proc.stdout.readline())
                if costs:
                    out["costs"].append(costs)
    finally:
        proc.stdin.close()
        proc.wait(60)
    out["ratio"] = statistics.median(out["serve"]) / statistics.median(out["bare"])
    out["step_ratio"] = statistics.median(out["steps"]["serve"]) / statistics.median(out["steps"]["bare"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(prog="python3 -m bench.web", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()
    res = compare(args.size, args.pages, args.rounds)
    print(f"{args.size}-star, steps' total per round (s): no server {[round(x, 3) for x in res['bare']]}, "
          f"{args.pages} pages {[round(x, 3) for x in res['serve']]}")
    print(f"ratio of the medians: {res['ratio']:.3f} (of the rounds' totals), {res['step_ratio']:.3f} (of every step's time)")
    print(f"the pages had the whole star {[None if s is None else round(s * 1000) for s in res['seen']]} ms after "
          f"its last step; pictures per page per round: {res['frames']}")
    rates = res["costs"][0][1][-2:] if res["costs"] else []
    if rates:
        print(f"reading the counters of the whole star: {[round(r * 1000, 2) for r in rates]} ms a second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
