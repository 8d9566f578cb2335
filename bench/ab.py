"""Two nslab checkouts and `ip -batch` on one topology, in one run, rounds alternating.

`python3 -m bench.ab /work/main --kind star --size 200 --rounds 7` prints the medians of
the whole `nslab run` process for this checkout and the other one, `ip -batch`'s, and each
nslab's ratio to it: a change is judged against the machine's load at the same moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from bench import topo
from bench.run import Runner, settle


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("baseline", help="the other nslab checkout (e.g. /work/main)")
    p.add_argument("--kind", default="star")
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tools = {"this": ("nslab", here), "baseline": ("nslab", os.path.abspath(args.baseline)), "ip -batch": ("batch", None)}
    walls: dict[str, list[float]] = {k: [] for k in tools}
    steps: dict[str, list[float]] = {k: [] for k in tools}
    runner = Runner()
    with tempfile.TemporaryDirectory(prefix="nslab-ab-") as work:
        paths = topo.write(topo.BUILDERS[args.kind](args.size), work)
        try:
            for r in range(args.rounds):
                order = list(tools) if r % 2 == 0 else list(reversed(tools))
                for name in order:
                    tool, root = tools[name]
                    res = runner.trial(tool, paths, [], None, root=root)
                    if "error" in res or res["build"]["rc"] != 0:
                        raise SystemExit(f"{name}: {res.get('error') or res['build']['tail']}")
                    walls[name].append(res["build"]["wall"])
                    if res["build"].get("steps") is not None:
                        steps[name].append(res["build"]["steps"])
                    settle(args.size)
        finally:
            runner.stop()
    batch = statistics.median(walls["ip -batch"])
    print(f"{args.kind} {args.size}, {args.rounds} rounds alternating (median whole process; nslab's in-process steps)")
    for name in tools:
        wall = statistics.median(walls[name])
        extra = f", steps {statistics.median(steps[name]):.3f} s" if steps[name] else ""
        print(f"  {name:10} {wall:.3f} s ({wall / batch:.2f}x ip -batch){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
