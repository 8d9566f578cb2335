"""nslab against iproute2, side by side: `python3 -m bench` (or `python3 bench/run.py`).

Generates a star, a chain and a full mesh as a `.lab` file, a bash script of `ip`
commands and `ip -batch` input (bench/topo.py); builds and tears each down in a
throwaway `unshare -n -m` namespace per trial (bench/trial.py), alternating the
tools round by round; then prints medians, ratios, peak memory and cost per
namespace, and the interaction figures (bench/interact.py).  Nothing reaches the
machine's own namespaces: every trial's namespaces die with its process.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):  # `python3 bench/run.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import interact, topo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("nslab", "nslab-host", "bash", "batch")
TOOL_NAMES = {"nslab": "nslab run", "nslab-host": "nslab --host run", "bash": "bash + ip", "batch": "ip -batch"}
SIZES = (10, 50, 200, 1000)
QUICK_SIZES = (10, 200)
MESH_FOR = {10: 5, 50: 10, 200: 20, 1000: 45}  # M namespaces: about N veths (M(M-1)/2)

TARGETS = """\
| target (issue 6) | wanted |
|---|---|
| 200-star `nslab run` vs `ip -batch` | ≤ 1.0× |
| 200-star `nslab run` vs bash script | ≤ 0.4× |
| 200-star `nslab --host reset` | ≤ 0.3 s |
| 1000-star | builds and goes away, peak memory < 200 MB, no fd exhaustion |
| one-line lab, whole `nslab run` | < 0.35 s |
| first REPL prompt | < 0.3 s |
| completion with 1,000 interfaces | < 10 ms |
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="sizes 10 and 200, 3 rounds, star and chain only")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="comma-separated N (default 10,50,200,1000)")
    p.add_argument("--kinds", default=None, help="comma-separated: star,chain,mesh (default all)")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {','.join(TOOLS)}")
    p.add_argument("--rounds", type=int, default=None, help="rounds per size (default 5; 3 at N >= 1000)")
    p.add_argument("--nofile", type=int, default=None, help="RLIMIT_NOFILE soft limit for the tools (e.g. 1024)")
    p.add_argument("--no-interact", action="store_true", help="skip the interaction figures")
    p.add_argument("--interact-only", action="store_true", help="only the interaction figures")
    p.add_argument("--profile", action="store_true", help="also profile `nslab run` of the 200-star (cProfile, top functions)")
    p.add_argument("--requests", action="store_true", help="also count nslab's netlink requests per namespace (bench/requests.py)")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to FILE")
    p.add_argument("--json", metavar="FILE", help="also write every raw measurement as JSON to FILE")
    p.add_argument("--keep", action="store_true", help="keep the generated labs and scripts (their directory is printed)")
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else SIZES)
    if args.kinds is None:
        args.kinds = "star,chain" if args.quick else "star,chain,mesh"
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.tools = [t for t in args.tools.split(",") if t]
    for k in args.kinds:
        if k not in topo.BUILDERS:
            p.error(f"unknown kind {k!r}")
    for t in args.tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r}")
    return args


# -- running trials -----------------------------------------------------------
class Runner:
    """Starts trials one at a time and can always stop the one running (by its PID)."""

    def __init__(self) -> None:
        self.current: subprocess.Popen[str] | None = None
        self.compiled: set[str] = set()  # checkouts byte-compiled (compile_package)

    def trial(self, tool: str, paths: dict[str, str], verify: list[str], nofile: int | None,
              root: str | None = None) -> dict[str, Any]:
        if tool == "nslab" and (root or ROOT) not in self.compiled:
            compile_package(root or ROOT)
            self.compiled.add(root or ROOT)
        spec = json.dumps({"tool": tool, "paths": paths, "verify": verify, "nofile": nofile, "root": root})
        env = dict(os.environ, BENCH_IN_UNSHARE="1", PYTHONPATH=ROOT)
        env.pop("NSLAB_ISOLATED", None)
        argv = ["unshare", "-n", "-m", "--propagation", "private", "--", sys.executable, "-m", "bench.trial", spec]
        self.current = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        out, err = self.current.communicate()
        rc = self.current.returncode
        self.current = None
        if rc != 0:
            return {"tool": tool, "error": (err or out).strip()[-500:]}
        return json.loads(out.strip().splitlines()[-1])

    def stop(self) -> None:
        p = self.current
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)  # its namespaces die with it
            p.wait()


def compile_package(root: str) -> None:
    """Byte-compile ROOT's package once, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (it
    is on some machines) every trial would otherwise compile every module again, and the figure
    would measure the compiler (some 160 ms for nslab), not what an installed nslab costs."""
    compileall.compile_dir(os.path.join(root, "nslab"), quiet=1)


def settle(size: int) -> None:
    """Give the kernel time to finish tearing down the last trial's namespaces (it does that in
    the background after the process ends), so one trial pays as little as possible for another."""
    time.sleep(0.3 + 0.003 * size)


def sample_namespaces(t: topo.Topology) -> list[str]:
    names = t.namespaces
    return sorted({names[0], names[len(names) // 2], names[-1]}) if names else []


def run_builds(args: argparse.Namespace, workdir: str, runner: Runner) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    plans = []
    for n in args.sizes:
        for kind in args.kinds:
            size = MESH_FOR.get(n, max(2, int((2 * n) ** 0.5) + 1)) if kind == "mesh" else n
            t = topo.BUILDERS[kind](size)
            plans.append((n, t, topo.write(t, workdir)))
    max_rounds = max(rounds_for(args, n) for n in args.sizes)
    for r in range(max_rounds):
        for n, t, paths in plans:
            if r >= rounds_for(args, n):
                continue
            k = r % len(args.tools)
            order = args.tools[k:] + args.tools[:k]  # alternate who goes first
            for tool in order:
                verify = sample_namespaces(t) if r == 0 else []
                res = runner.trial(tool, paths, verify, args.nofile)
                res.update(kind=t.kind, size=t.size, n=n, round=r, steps=len(t.steps), veths=t.count("veth"))
                results.append(res)
                print(f"  round {r + 1} {t.name:<10} {TOOL_NAMES[tool]:<17} {brief(res)}", file=sys.stderr, flush=True)
                settle(t.size)
    return results


def rounds_for(args: argparse.Namespace, n: int) -> int:
    if args.rounds:
        return args.rounds
    if args.quick:
        return 3
    return 3 if n >= 1000 else 5


def brief(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + res["error"].splitlines()[-1]
    b = res["build"]
    s = f"build {b['wall']:.3f} s rc={b['rc']} {b['rss_kib'] / 1024:.0f} MB"
    if "teardown" in res:
        s += f"  teardown {res['teardown']['wall']:.3f} s rc={res['teardown']['rc']}"
    return s


# -- tables -------------------------------------------------------------------
def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.3f} s" if x < 10 else f"{x:.1f} s")


def fmt_ms(x: float | None) -> str:
    return "—" if x is None else (f"{x * 1000:.2f} ms" if x < 0.01 else f"{x * 1000:.1f} ms")


def ok_runs(results: list[dict[str, Any]], kind: str, size: int, tool: str) -> list[dict[str, Any]]:
    return [r for r in results if r["kind"] == kind and r["size"] == size and r["tool"] == tool and "error" not in r]


def build_tables(results: list[dict[str, Any]], tools: list[str]) -> str:
    out: list[str] = []
    groups = sorted({(r["kind"], r["size"], r["n"], r["steps"], r["veths"]) for r in results},
                    key=lambda g: (["star", "chain", "mesh"].index(g[0]), g[1]))
    out.append("### Build, whole process (median)\n")
    head = "| lab | steps | " + " | ".join(TOOL_NAMES[t] for t in tools) + " | nslab / bash | nslab / ip -batch | nslab per namespace | nslab peak RSS |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for kind, size, _n, steps, veths in groups:
        meds = {}
        for tool in tools:
            runs = ok_runs(results, kind, size, tool)
            good = [r["build"]["wall"] for r in runs if r["build"]["rc"] == 0]
            meds[tool] = med(good)
        cells = []
        for tool in tools:
            runs = ok_runs(results, kind, size, tool)
            bad = sum(1 for r in runs if r["build"]["rc"] != 0) + sum(1 for r in results if r["kind"] == kind and r["size"] == size
                                                                     and r["tool"] == tool and "error" in r)
            cells.append(fmt_s(meds[tool]) + (f" ({bad} failed)" if bad else ""))
        nsl, bash_, batch = meds.get("nslab"), meds.get("bash"), meds.get("batch")
        rss = [r["build"]["rss_kib"] for r in ok_runs(results, kind, size, "nslab")]
        label = f"{kind} {size}" + (f" ({veths} veths)" if kind == "mesh" else "")
        out.append(f"| {label} | {steps} | " + " | ".join(cells)
                   + f" | {ratio(nsl, bash_)} | {ratio(nsl, batch)} | {fmt_ms(nsl / size if nsl else None)} | "
                   + (f"{max(rss) / 1024:.0f} MB" if rss else "—") + " |")
    out.append("")
    # in-process step time versus whole process, for nslab
    out.append("### nslab: where the whole process goes (median)\n")
    out += ["| lab | whole process | steps (in-process, from the summary line) | start-up + exit | host mode: build | host mode: `reset` | per namespace (reset) |",
            "|---|---|---|---|---|---|---|"]
    for kind, size, _n, _steps, _veths in groups:
        runs = [r for r in ok_runs(results, kind, size, "nslab") if r["build"]["rc"] == 0]
        hruns = [r for r in ok_runs(results, kind, size, "nslab-host") if r["build"]["rc"] == 0]
        whole = med([r["build"]["wall"] for r in runs])
        steps_s = med([r["build"]["steps"] for r in runs if r["build"].get("steps") is not None])
        rest = whole - steps_s if whole is not None and steps_s is not None else None
        hbuild = med([r["build"]["wall"] for r in hruns])
        hreset = med([r["teardown"]["wall"] for r in hruns if r["teardown"]["rc"] == 0])
        out.append(f"| {kind} {size} | {fmt_s(whole)} | {fmt_s(steps_s)} | {fmt_s(rest)} | {fmt_s(hbuild)} | {fmt_s(hreset)} | "
                   f"{fmt_ms(hreset / size if hreset else None)} |")
    out.append("")
    out.append("### Teardown, whole process (median)\n")
    out += ["| lab | nslab (isolated) | `nslab --host reset` | bash (`ip netns del` each) | `ip -batch` (`netns del` lines) | left behind |",
            "|---|---|---|---|---|---|"]
    for kind, size, _n, _steps, _veths in groups:
        cells = []
        left = 0
        for tool in ("nslab-host", "bash", "batch"):
            runs = [r for r in ok_runs(results, kind, size, tool) if r["build"]["rc"] == 0]
            cells.append(fmt_s(med([r["teardown"]["wall"] for r in runs if r["teardown"]["rc"] == 0])))
            left += sum(r.get("left", 0) for r in runs)
        out.append(f"| {kind} {size} | process exit (in the build time) | " + " | ".join(cells) + f" | {left} namespaces |")
    out.append("")
    out.append("### Peak memory of the build process (max over rounds; bash and ip -batch: the script and its `ip` children)\n")
    head = "| lab | " + " | ".join(TOOL_NAMES[t] for t in tools) + " |"
    out += [head, "|" + "---|" * (len(tools) + 1)]
    for kind, size, _n, _steps, _veths in groups:
        cells = []
        for tool in tools:
            rss = [r["build"]["rss_kib"] for r in ok_runs(results, kind, size, tool)]
            cells.append(f"{max(rss) / 1024:.0f} MB" if rss else "—")
        out.append(f"| {kind} {size} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(same_lab(results, tools))
    failures = [r for r in results if "error" in r or r["build"]["rc"] != 0 or r.get("teardown", {}).get("rc", 0) != 0]
    if failures:
        out.append("\n### Failures\n")
        for r in failures[:10]:
            what = r.get("error") or (r["build"]["tail"] if r["build"]["rc"] else r["teardown"]["tail"])
            out.append(f"- {r['kind']} {r['size']} {TOOL_NAMES[r['tool']]} round {r['round'] + 1}: "
                       + " / ".join(what.strip().splitlines()[-2:]))
    return "\n".join(out) + "\n"


def same_lab(results: list[dict[str, Any]], tools: list[str]) -> str:
    """Did the tools build the same lab?  Compared by `ip -j` dumps of sample namespaces (first round)."""
    lines = []
    for kind, size in sorted({(r["kind"], r["size"]) for r in results}):
        fps = {r["tool"]: json.dumps(r["fingerprint"], sort_keys=True) for r in results
               if r["kind"] == kind and r["size"] == size and "fingerprint" in r}
        if len(fps) < 2:
            continue
        same = len(set(fps.values())) == 1
        lines.append(f"{kind} {size}: " + ("same" if same else "DIFFERENT: " + ", ".join(f"{TOOL_NAMES[t]}" for t in fps)))
    if not lines:
        return ""
    return ("Same lab from every tool (`ip -j` dumps of the first, middle and last namespace and the host's links, "
            "after `nslab --host run`, bash and `ip -batch`): " + "; ".join(lines) + ".\n")


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


# -- interaction ----------------------------------------------------------------
def run_interact(workdir: str, rounds: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    print("  interaction: one-line lab", file=sys.stderr, flush=True)
    res["one_line"] = interact.one_line_lab(workdir, rounds)
    print("  interaction: imports", file=sys.stderr, flush=True)
    res["imports"] = interact.imports(rounds)
    print("  interaction: first prompt", file=sys.stderr, flush=True)
    res["prompt"] = [x for x in (interact.first_prompt() for _ in range(rounds)) if x is not None]
    print("  interaction: ping", file=sys.stderr, flush=True)
    res["ping"] = sub_json(["ping", str(max(rounds, 20))])
    print("  interaction: completion with 1,000 interfaces", file=sys.stderr, flush=True)
    star = topo.write(topo.star(1000), workdir)
    res["completion"] = sub_json(["completion", str(max(rounds, 20)), star["lab"]])
    return res


def sub_json(args: list[str]) -> Any:
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NSLAB_ISOLATED", None)
    p = subprocess.run([sys.executable, "-m", "bench.interact", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if p.returncode != 0:
        return f"failed: {(p.stderr or p.stdout).strip().splitlines()[-1:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def interact_table(res: dict[str, Any]) -> str:
    out = ["### Interaction (median)\n", "| figure | median | best | target |", "|---|---|---|---|"]

    def row(label: str, xs: list[float], target: str = "") -> None:
        out.append(f"| {label} | {fmt_ms(med(xs))} | {fmt_ms(min(xs) if xs else None)} | {target} |")

    row("one-line lab (`ns add a`), whole `nslab run` process", res["one_line"], "< 350 ms")
    if res["prompt"]:
        row("first REPL prompt under a pty (`nslab`)", res["prompt"], "< 300 ms")
    else:
        out.append("| first REPL prompt under a pty (`nslab`) | no prompt within 10 s (REPL failed to start) | | < 300 ms |")
    for label, xs in res["imports"].items():
        row(f"`python3 -c '{label}'`" if label != "python3 -c pass" else "`python3 -c pass` (interpreter alone)", xs)
    if isinstance(res["ping"], dict):
        for label, xs in res["ping"].items():
            row(f"one echo: {label}", xs)
    else:
        out.append(f"| ping | {res['ping']} | | |")
    comp = res["completion"]
    if isinstance(comp, dict):
        for label, xs in comp.items():
            if label == "interfaces":
                continue
            row(f"completion, {comp['interfaces']} interfaces: {label}", xs, "" if label.startswith("read_") else "< 10 ms")
    else:
        out.append(f"| completion | {comp} | | < 10 ms |")
    return "\n".join(out) + "\n"


# -- profile ----------------------------------------------------------------
def profile(workdir: str, top: int = 25) -> str:
    import pstats

    star = topo.write(topo.star(200), workdir)
    prof = os.path.join(workdir, "star200.prof")
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NSLAB_ISOLATED", None)
    subprocess.run([sys.executable, "-m", "cProfile", "-o", prof, "-m", "nslab", "run", star["lab"]],
                   capture_output=True, env=env, cwd=ROOT, check=True, timeout=600)
    lines = []
    for key in ("tottime", "cumulative"):
        buf = tempfile.SpooledTemporaryFile(mode="w+")
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        buf.seek(0)
        lines.append(f"--- by {key} ---\n" + buf.read())
    return "\n".join(lines)


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    ip_v = subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem}, kernel {platform.release()}, Python {platform.python_version()}, "
            f"{ip_v}, RLIMIT_NOFILE {__import__('resource').getrlimit(__import__('resource').RLIMIT_NOFILE)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (trials run under `unshare -n -m` with a tmpfs on /run)", file=sys.stderr)
        return 2
    for prog in ("unshare", "ip", "bash"):
        if shutil.which(prog) is None:
            print(f"bench: {prog} not found", file=sys.stderr)
            return 2
    workdir = tempfile.mkdtemp(prefix="nslab-bench-")
    runner = Runner()
    report: list[str] = [f"Machine: {machine()}\n"]
    raw: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    try:
        if not args.interact_only:
            print(f"building {', '.join(args.kinds)} at N = {', '.join(map(str, args.sizes))} with {', '.join(args.tools)}",
                  file=sys.stderr)
            results = run_builds(args, workdir, runner)
            raw["builds"] = results
            report.append(build_tables(results, args.tools))
        if not args.no_interact:
            inter = run_interact(workdir, 5 if args.quick else 10)
            raw["interact"] = inter
            report.append(interact_table(inter))
        report.append("### Targets\n\n" + TARGETS)
        if args.requests:
            from bench import requests

            counted = [requests.measure(k, MESH_FOR.get(n, n) if k == "mesh" else n) for k in args.kinds for n in args.sizes]
            raw["requests"] = counted
            report.append(requests.table(counted))
        if args.profile:
            prof = profile(workdir)
            raw["profile"] = prof
            print(prof)
    except KeyboardInterrupt:
        runner.stop()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        runner.stop()
        if args.keep:
            print(f"labs and scripts kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(report)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
