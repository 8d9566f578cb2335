"""Netlink requests per step and per namespace: nslab's own count (Namespaces.requests).

`python3 -m bench.requests --sizes 200 --kinds star` builds each topology once, in process,
in an isolated lab (a private network and mount namespace: nothing reaches the machine),
and prints the requests by message type.  bench/run.py adds the table with --requests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def count(kind: str, size: int) -> dict[str, Any]:
    """Build the topology in this process (isolated first) and count what its steps sent."""
    from nslab.kernel import isolate

    isolate.enter()
    from bench import topo
    from nslab.kernel.nlmsg import RTM_NAMES
    from nslab.lab import Lab

    t = topo.BUILDERS[kind](size)
    lines = [line for line in topo.lab_text(t).splitlines() if line and not line.startswith("#")]
    by_command: dict[str, Counter[str]] = {}
    with Lab() as lab:
        for line in lines:
            before = Counter(lab.nss.requests)
            out = lab.run(line)
            if not out.ok:
                raise SystemExit(f"{line}: {out.events}")
            spent = Counter(lab.nss.requests)
            spent.subtract(before)
            words = line.split()
            what = next((w for w in ("route", "sysctl") if w in words), None) or (
                " ".join(words[:2]) if words[0] in ("ns", "bridge", "addr") else words[0])
            by_command.setdefault(what, Counter()).update({RTM_NAMES.get(k, str(k)): v for k, v in spent.items() if v})
    total: Counter[str] = sum(by_command.values(), Counter())
    return {"kind": kind, "size": size, "steps": len(lines), "total": dict(total),
            "requests": sum(total.values()), "per_namespace": sum(total.values()) / size,
            "by_command": {k: dict(v) for k, v in by_command.items()}}


def measure(kind: str, size: int) -> dict[str, Any]:
    """count() in a fresh process: isolation needs a single-threaded process of its own."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NSLAB_ISOLATED", None)
    out = subprocess.run([sys.executable, "-m", "bench.requests", "--one", f"{kind}:{size}"], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=True, timeout=600).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def table(results: list[dict[str, Any]]) -> str:
    out = ["### Netlink requests (nslab's own count, one build)\n",
           "| lab | steps | requests | per namespace | per step | by type |", "|---|---|---|---|---|---|"]
    for r in results:
        types = ", ".join(f"{k.removeprefix('RTM_')} {v}" for k, v in sorted(r["total"].items()))
        out.append(f"| {r['kind']} {r['size']} | {r['steps']} | {r['requests']} | {r['per_namespace']:.1f} | "
                   f"{r['requests'] / r['steps']:.2f} | {types} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="200", help="comma-separated N (default 200)")
    p.add_argument("--kinds", default="star", help="comma-separated: star,chain,mesh (default star)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # KIND:N, in this process (measure() runs it)
    args = p.parse_args(argv)
    if args.one:
        kind, size = args.one.split(":")
        print(json.dumps(count(kind, int(size))))
        return 0
    results = [measure(k, int(n)) for k in args.kinds.split(",") for n in args.sizes.split(",")]
    print(table(results))
    for r in results:
        print(f"{r['kind']} {r['size']} by command: {json.dumps(r['by_command'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
