"""The journal written out as a bash script of iproute2 (the `.lab` that `save` writes is in
nslab/engine/savefile.py, which shares `kept` and the lines' context from here).

Both are built from the steps whose effects are still in the lab.  Because undo
goes newest-first, those steps, in order, are exactly the history of the lab as
it stands, so replaying them (or their iproute2 lines) rebuilds it.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..kernel import targets
from ..kernel.netns import HOST
from ..lang.lexer import quote as quote_word
from ..lang.lexer import tokenize
from ..ops import opkinds
from ..ops.journal import Op, Step
from ..ops.opkinds import ip_lines
from ..ops.shell_words import command, comment_text, ip_words, quote
from .export_learned import MAC_OF, Ports
from .export_learned import checks as learned_checks


def _with_context(step: Step) -> str:
    """The step's text, with its context written out when the REPL had `enter`ed one.  A program
    is written where it ran (`exec a ping ...` typed in b ran in a: `b exec a ...` would not)."""
    if step.command == "exec" and step.program and step.program_ns and step.program_ns != step.context:
        return " ".join([quote_word(step.program_ns), "exec", *(quote_word(w) for w in step.program)])
    if step.context == HOST:
        return step.text
    first = tokenize(step.text)[0].text if step.text else ""
    return step.text if first == step.context else f"{step.context} {step.text}"


def kept(step: Step) -> bool:
    """A step whose effects are in the lab now: it succeeded, changed something and was not undone."""
    # (an `exec` has ops only when it started a program in the background: that program is kept)
    return step.outcome == "ok" and (step.changes_lab or step.command == "exec") and bool(step.ops)


def ran_program(step: Step, namespaces: set[str] | None) -> bool:
    """A program that ran (it may have changed the lab: nslab cannot tell, so the record keeps it)
    in a namespace that is still there."""
    return (step.command == "exec" and step.outcome == "ok" and bool(step.program)
            and (namespaces is None or step.program_ns in namespaces))


HEADER = """#!/usr/bin/env bash
# Written by nslab: {what} with plain iproute2 commands.
set -euo pipefail
"""

# Small helpers for the checks that `expect` lines become; written into the script only when used.
CHECK_FUNCS = r"""
# check WHAT CMD...: stop the script unless CMD succeeds within 2 s; check_not: unless it fails.
check() { local what=$1 i; shift; for i in {1..20}; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
          echo "check failed: $what" >&2; exit 1; }
check_not() { local what=$1 i; shift; for i in {1..20}; do "$@" >/dev/null 2>&1 || return 0; sleep 0.1; done
              echo "check failed: $what" >&2; exit 1; }
# has_match REGEX CMD...: CMD prints a line matching REGEX.
has_match() { local re=$1; shift; "$@" 2>/dev/null | grep -Eq -- "$re"; }
""" + targets.BASH  # the handler's own rule


def _ere(text: str) -> str:
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def _in_ns(ns: str, argv: list[str]) -> list[str]:
    return argv if ns == HOST else ["ip", "netns", "exec", ns, *argv]


def _target(ns_name: str) -> str:
    """A ping target: an address as is, a namespace name resolved when the script runs."""
    from ..lang.kinds import check_ip

    try:
        return str(check_ip(ns_name))
    except ValueError:
        return f'"$(first_ipv4 {"" if ns_name == HOST else shlex.quote(ns_name)})"'


def _route_cmd(ns: str, dest: str) -> list[str]:
    fam = ["-6"] if ":" in dest else []
    return [*ip_words(ns), *fam, "route", "show", *([dest] if dest == "default" else ["exact", dest])]


# `expect pingall [except A-B...]`: the same pairs (ip netns list, each by first_ipv4), the same
# three tries of a second for a pair that is silent, iputils' ping for nslab's echoes; one call,
# not `check`'s twenty (a silent pair costs its three seconds each time)
PINGALL_FUNC = r"""
# check_pingall WHAT [A-B...]: every two namespaces with an IPv4 address answer each other's echo
# within 3 tries of 1 s, except the pairs named (A-B, either order), which must not; else stop.
check_pingall() {
  local what=$1 ns a i j k w try ex used=" " bad=""; shift
  local -a names=() addrs=() todo=() next=() pids=(); local -A answered=()
  while read -r ns _; do a=$(first_ipv4 "$ns"); if [ -n "$a" ]; then names+=("$ns"); addrs+=("$a"); fi
  done < <(ip netns list)
  if (( ${#names[@]} < 2 )); then echo "check failed: $what (fewer than two namespaces with IPv4)" >&2; exit 1; fi
  for i in "${!names[@]}"; do for j in "${!names[@]}"; do (( i == j )) || todo+=("$i $j"); done; done
  for try in 1 2 3; do
    pids=(); next=()
    for k in "${!todo[@]}"; do read -r i j <<< "${todo[k]}"
      ip netns exec "${names[i]}" ping -n -q -c 1 -W 1 "${addrs[j]}" >/dev/null 2>&1 & pids[k]=$!; done
    for k in "${!todo[@]}"; do if wait "${pids[k]}"; then answered["${todo[k]}"]=1; else next+=("${todo[k]}"); fi; done
    todo=("${next[@]}"); (( ${#todo[@]} )) || break
  done
  for i in "${!names[@]}"; do for j in "${!names[@]}"; do (( i != j )) || continue
    ex=""; for w in "$@"; do [[ $w == "${names[i]}-${names[j]}" || $w == "${names[j]}-${names[i]}" ]] && ex=1 && used+="$w "; done
    if [ -n "$ex" ] && [ -n "${answered["$i $j"]:-}" ]; then bad+=" ${names[i]}->${names[j]} answered"; fi
    if [ -z "$ex" ] && [ -z "${answered["$i $j"]:-}" ]; then bad+=" ${names[i]}->${names[j]} silent"; fi
  done; done
  for w in "$@"; do [[ $used == *" $w "* ]] || bad+=" $w names no pair"; done
  if [ -n "$bad" ]; then echo "check failed: $what:$bad" >&2; exit 1; fi
}
"""


# `expect perf A B at least R`: iperf3 (an oracle nslab did not write) for the same 2 s, from A to
# B's first IPv4 address; its server is stopped by the script, never left running
PERF_FUNC = r"""
# check_perf WHAT A B BITS: iperf3 from A to B's first IPv4 address for 2 s gets at least BITS/s; else stop.
check_perf() {
  local what=$1 a=$2 b=$3 want=$4 addr pid out got="" i
  addr=$(first_ipv4 "$b")
  if [ -z "$addr" ]; then echo "check failed: $what ($b has no IPv4 address)" >&2; exit 1; fi
  ip netns exec "$b" iperf3 -s -1 -B "$addr" -p 5201 >/dev/null 2>&1 & pid=$!
  for i in {1..20}; do
    out=$(ip netns exec "$a" iperf3 -c "$addr" -p 5201 -t 2 -J --connect-timeout 2000 2>/dev/null) || true
    got=$(awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { gsub(/[^0-9.]/, "", $2); print $2; f = 0 }' <<< "$out")
    [ -n "$got" ] && break; sleep 0.1
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  if [ -z "$got" ] || ! awk -v g="$got" -v w="$want" 'BEGIN { exit !(g >= w) }'; then
    echo "check failed: $what (${got:-no test} bit/s)" >&2; exit 1; fi
}
"""


def _expect_check(ns: str, handler: str, v: dict[str, Any], ports: Ports | None = None) -> list[tuple[bool, str]]:
    """(should succeed, bash command) pairs that test what an `expect` line asserted."""
    q = quote

    def link(e: Any) -> tuple[str, str]:
        return (e.ns or ns), e.ifname

    if handler in ("expect_reach", "expect_noreach"):
        argv = " ".join(q(a) for a in _in_ns(ns, ["ping", "-c1", "-W2", *(["-I", v["I"]] if v.get("I") else [])]))
        return [(handler == "expect_reach", f"{argv} {_target(v['target'])}")]
    if handler in ("expect_ns", "expect_no_ns"):
        if v["name"] == HOST:
            return [(handler == "expect_ns", "true")]
        return [(handler == "expect_ns", f"test -e /run/netns/{q(v['name'])}")]
    if handler in ("expect_link", "expect_no_link", "expect_link_up", "expect_link_down"):
        lns, name = link(v["ep"])
        show = " ".join(q(a) for a in [*ip_words(lns), "link", "show", "dev", name])
        out = [(handler != "expect_no_link", show)]
        if handler == "expect_link_up":
            out.append((True, f"has_match . {show} up"))
        if handler == "expect_link_down":
            out.append((False, f"has_match . {show} up"))
        return out
    if handler == "expect_addr":
        lns, name = link(v["ep"])
        show = " ".join(q(a) for a in [*ip_words(lns), "-o", "addr", "show", "dev", name])
        return [(True, f"has_match {q(' ' + _ere(str(v['cidr'])) + ' ')} {show}")]
    if handler == "expect_master":
        lns, name = link(v["ep"])
        show = " ".join(q(a) for a in [*ip_words(lns), "-o", "link", "show", "dev", name])
        return [(True, f"has_match {q(' master ' + _ere(v['bridge']) + ' ')} {show}")]
    if handler in ("expect_route", "expect_route_dev"):
        show = " ".join(q(a) for a in _route_cmd(ns, v["dest"]))
        want = f" via {_ere(str(v['gw']))} " if handler == "expect_route" else f"(^| )dev {_ere(v['dev'])}( |$)"
        return [(True, f"has_match {q(want)} {show}")]
    return learned_checks(ns, handler, v, ports)


expect_checks = _expect_check  # the teaching replay shows them as a goal's iproute2 form


def expect_lines(step: Step, ports: Ports | None = None) -> list[str]:
    """The bash checks for an `expect` step, by re-reading its line with the parser."""
    from ..base.errors import NslabError
    from ..lang.parser import parse_line

    try:
        cmd = parse_line(step.text)
    except NslabError:
        return []
    if cmd is None or cmd.name != "expect":
        return []
    if cmd.form.handler == "expect_path":  # what a trace saw, bash cannot check
        return [f"# nslab-only: {comment_text(_with_context(step))}"]
    what = quote(_with_context(step))
    checks = _expect_check(step.context, cmd.form.handler, cmd.values, ports)
    if step.context != HOST:  # nslab finds a goal in a missing namespace unmet, whatever it asks
        checks.insert(0, (True, f"test -e /run/netns/{quote(step.context)}"))
    lines = [f"{'check' if ok else 'check_not'} {what} {line}" for ok, line in checks]
    if cmd.form.handler == "expect_pingall":
        lines.append(" ".join(["check_pingall", what, *(quote(w) for w in cmd.values.get("pair") or [])]))
    if cmd.form.handler == "expect_perf":
        v = cmd.values
        lines.append(" ".join(["check_perf", what, quote(v["a"]), quote(v["b"]), str(v["r"])]))
    return lines


def sh_text(steps: list[Step], teardown: bool = False, namespaces: set[str] | None = None) -> str:
    if teardown:
        return teardown_text(steps)
    out = [HEADER.format(what="builds the lab")]
    body: list[str] = []
    section = None
    undone_before = False
    ports = Ports()  # the lab as the kept steps so far made it: where `expect fdb` looks
    for step in steps:
        undone_before = undone_before or step.outcome == "undone"
        checks = expect_lines(step, ports) if step.command == "expect" and step.outcome == "ok" and not undone_before else []
        if kept(step):
            ports.follow(step)
        program = ran_program(step, namespaces)
        if not kept(step) and not checks and not program:
            continue
        if step.section and step.section != section:
            section = step.section
            body += ["", f"## {comment_text(section)}"]
        body += [f"# {comment_text(line)}" for line in step.narration]
        if checks:
            body += checks
            continue
        body.append(f"# nslab: {comment_text(_with_context(step))}")
        body += step.ip
        if program:
            pre = [] if step.program_ns == HOST else ["ip", "netns", "exec", step.program_ns]
            body.append(command(*pre, *step.program))
        body += _settle_lines(step)
    if any(line.startswith("check") for line in body):
        out.append(CHECK_FUNCS)
    if any("$(mac_of " in line for line in body):
        out.append(MAC_OF)
    if any(line.startswith("check_pingall ") for line in body):
        out.append(PINGALL_FUNC)
    if any(line.startswith("check_perf ") for line in body):
        out.append(PERF_FUNC)
    if any(line.startswith("wait_gone") for line in body):
        out.append(WAIT_GONE)
    return "\n".join(out + body) + "\n"


WAIT_GONE = r"""
# wait_gone NS IF: `ip netns del` returns before the kernel removes the namespace's veths' other ends.
wait_gone() { local i; for i in {1..50}; do ip ${1:+-n "$1"} link show dev "$2" >/dev/null 2>&1 || return 0; sleep 0.1; done; }
"""


def _settle_lines(step: Step) -> list[str]:
    """After `ns del`: wait for the ends outside the namespace that go with it (as nslab does)."""
    deleted = {op["ns"] for op in step.ops if op["op"] == "ns_del"}
    out = []
    for op in step.inverse:  # the rebuild ops name every veth the deletion took
        if op["op"] != "veth":
            continue
        for ns, name in ((op["ns"], op["name"]), (op["peer_ns"], op["peer"])):
            if ns not in deleted:
                where = "''" if ns == HOST else shlex.quote(ns)
                out.append(f"wait_gone {where} {shlex.quote(name)}")
    return out


ATTRIBUTES = opkinds.flagged("attribute")


def _needless(op: Op, later: list[Op]) -> bool:
    """An attribute change inside a namespace that the teardown deletes afterwards anyway."""
    ns = op.get("ns", HOST)
    if ns == HOST:
        return False
    settable = op["op"] == "link_set" and not {"netns", "rename"} & set(op)  # later ops may need a name back
    if op["op"] not in ATTRIBUTES and not settable:
        return False
    return any(o["op"] == "ns_del" and o["ns"] == ns for o in later)


def teardown_text(steps: list[Step]) -> str:
    """The journal's inverse ops, newest step first: what `reset` does, as iproute2."""
    out = [HEADER.format(what="removes the lab")]
    live = [s for s in steps if kept(s)]
    plan: list[tuple[Step, Op]] = [(s, op) for s in reversed(live) for op in s.inverse]
    ops = [op for _, op in plan]
    last: Step | None = None
    for i, (step, op) in enumerate(plan):
        if _needless(op, ops[i + 1:]):
            continue
        if step is not last:
            out.append(f"# undo: {comment_text(_with_context(step))}")
            last = step
        out += ip_lines(op)
    return "\n".join(out) + "\n"
