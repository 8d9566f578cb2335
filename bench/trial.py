"""One timed trial: build (and tear down) one topology with one tool, in a throwaway namespace.

Run by bench/run.py as `unshare -n -m --propagation private -- python3 -m bench.trial SPEC_JSON`.
Inside, a private tmpfs covers /run (so /run/netns and nslab's host-mode journal
are the trial's own); every namespace made here dies with this process.
Prints one JSON object: wall time and peak RSS of each whole process.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 900.0


def private_run_dir() -> None:
    """A tmpfs over /run in this (private) mount namespace, with netns/ and nslab/ in it."""
    if os.environ.get("BENCH_IN_UNSHARE") != "1":
        raise SystemExit("bench.trial must run inside `unshare -n -m --propagation private` (bench/run.py does that)")
    subprocess.run(["mount", "-t", "tmpfs", "bench", "/run"], check=True)
    os.makedirs("/run/netns", exist_ok=True)
    os.makedirs("/run/nslab", exist_ok=True)


def timed(argv: list[str], nofile: int | None = None, cwd: str | None = None, root: str | None = None) -> dict[str, Any]:
    """Run argv as a whole process: wall seconds, peak RSS (KiB, the process and its children), rc, output tail.
    `root`: the nslab checkout to run (bench/ab.py compares two), else this one."""
    env = dict(os.environ)
    env.pop("NSLAB_ISOLATED", None)
    root = root or ROOT
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    def limits() -> None:
        if nofile:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    out_path = f"/run/bench-out.{len(argv)}.{time.monotonic_ns()}"
    with open(out_path, "w+b") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd or root, preexec_fn=limits if nofile else None)
        killer = threading.Timer(TIMEOUT, os.kill, (p.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        killer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    os.unlink(out_path)
    return {"wall": wall, "rss_kib": usage.ru_maxrss, "rc": p.returncode, "tail": text[-600:]}


def nslab(*args: str) -> list[str]:
    return [sys.executable, "-m", "nslab", *args]


def steps_seconds(text: str) -> float | None:
    """The in-process step time nslab prints in its summary line (`ok: N/N steps, ..., 1.23 s`)."""
    m = re.search(r"steps, .*?([\d.]+) s\s*$", text.strip().splitlines()[-1] if text.strip() else "")
    return float(m.group(1)) if m else None


def fingerprint(sample: list[str]) -> dict[str, Any]:
    """What was built, read back by `ip -j` (not by the tool under test): namespaces, links, addresses, routes."""
    names = sorted(os.listdir("/run/netns"))
    fp: dict[str, Any] = {"namespaces": len(names)}
    host = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout or "[]")
    fp["host_links"] = sorted((link["ifname"], link.get("master", ""), "UP" in link.get("flags", [])) for link in host)
    for ns in sample:
        if ns not in names:
            fp[ns] = "missing"
            continue
        addrs = json.loads(subprocess.run(["ip", "-n", ns, "-j", "addr"], capture_output=True, text=True).stdout or "[]")
        routes = json.loads(subprocess.run(["ip", "-n", ns, "-j", "route"], capture_output=True, text=True).stdout or "[]")
        fwd = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward"],
                             capture_output=True, text=True).stdout.strip()
        fp[ns] = {
            "links": sorted((a["ifname"], "UP" in a.get("flags", []),
                             tuple(sorted(f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                          if i.get("scope") != "link")))  # fe80:: follows the random MAC
                            for a in addrs),
            "routes": sorted((r["dst"], r.get("gateway", ""), r.get("dev", "")) for r in routes),
            "forwarding": fwd,
        }
    return fp


def main() -> int:
    spec = json.loads(sys.argv[1])
    private_run_dir()
    tool, paths, nofile = spec["tool"], spec["paths"], spec.get("nofile")
    verify = spec.get("verify", [])
    res: dict[str, Any] = {"tool": tool}
    if tool == "nslab":
        b = timed(nslab("run", paths["lab"]), nofile, root=spec.get("root"))
        b["steps"] = steps_seconds(b["tail"])
        res["build"] = b  # teardown is the process's exit: the kernel removes the private namespaces
    elif tool == "nslab-host":
        res["build"] = timed(nslab("--host", "--lab", "bench", "run", paths["lab"]), nofile)
        res["build"]["steps"] = steps_seconds(res["build"]["tail"])
        if verify and res["build"]["rc"] == 0:
            res["fingerprint"] = fingerprint(verify)
        res["teardown"] = timed(nslab("--host", "--lab", "bench", "reset"), nofile)
        res["left"] = len(os.listdir("/run/netns"))
    elif tool == "bash":
        res["build"] = timed(["bash", paths["bash"]], nofile)
        if verify and res["build"]["rc"] == 0:
            res["fingerprint"] = fingerprint(verify)
        res["teardown"] = timed(["bash", paths["bash_down"]], nofile)
        res["left"] = len(os.listdir("/run/netns"))
    elif tool == "batch":
        res["build"] = timed(["bash", paths["batch"]], nofile)
        if verify and res["build"]["rc"] == 0:
            res["fingerprint"] = fingerprint(verify)
        res["teardown"] = timed(["ip", "-batch", paths["batch_down"]], nofile)
        res["left"] = len(os.listdir("/run/netns"))
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
