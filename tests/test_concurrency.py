"""Concurrency and load: isolated labs side by side, host labs by name, memory over 1,000 steps."""

from __future__ import annotations

import gc
import subprocess
import time
import tracemalloc
import uuid
from pathlib import Path

from conftest import nslab_cli
from test_safety_crash import host_links, netns_names, popen_nslab, stable

from nslab.lab import Lab

# per-step growth allowed while the journal keeps each step (text, ops, inverse, iproute2 lines)
PER_STEP_BYTES = 16_000
FIGURES: dict[str, float] = {}


def ring_lab(path: Path, n: int = 24) -> Path:
    """The same names in every copy: isolated labs must not see each other."""
    lines = ["bridge add br0"]
    for i in range(n):
        lines += [f"ns add n{i}", f"veth h{i} n{i}:eth0", f"bridge br0 add h{i}",
                  f"n{i} addr add eth0 10.20.0.{i + 1}/24", f"n{i} link eth0 up"]
    lines += [f"n0 expect reach 10.20.0.{i + 1}" for i in range(1, n)]
    lines += [f"expect ns n{n - 1}", "ns del n0", "expect no ns n0"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_four_isolated_labs_at_once_do_not_interfere(tmp_path: Path) -> None:
    lab = ring_lab(tmp_path / "ring.lab")
    before_links, before_ns = set(host_links()), netns_names()
    runs = [popen_nslab("--no-color", "run", "-q", str(lab), out=subprocess.PIPE) for _ in range(4)]
    for r in runs:  # all four started before any is read
        out = r.communicate(timeout=300)[0].decode()
        assert r.returncode == 0 and "ok: " in out and "25 expects held" in out and "unmet" not in out, out
    assert set(host_links()) == before_links and netns_names() == before_ns


def host(lab: str, text: str) -> subprocess.CompletedProcess:
    return nslab_cli("--host", "--lab", lab, "--no-color", "run", "-", input=text)


def test_two_host_labs_never_touch_each_others_objects() -> None:
    a, b = f"la{uuid.uuid4().hex[:5]}", f"lb{uuid.uuid4().hex[:5]}"
    ns_before, links_before = netns_names(), set(host_links())
    try:
        for lab in (a, b):
            r = host(lab, f"ns add {lab}n\nveth {lab}h {lab}n:eth0\nbridge {lab}br add {lab}h\naddr add {lab}br 10.30.{len(lab)}.1/24\n")
            assert r.returncode == 0, r.stdout + r.stderr
        b_state = {n: stable(m) for n, m in host_links().items() if n.startswith(b)}
        assert len(b_state) == 2 and f"{b}n" in netns_names()
        # the other lab's objects are not this lab's: refused, by name
        r = host(a, f"link del {b}h\nns del {b}n\n")
        assert r.returncode == 1 and "was not made by this lab" in r.stdout
        r = nslab_cli("--host", "--lab", a, "reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not any(n.startswith(a) for n in host_links()) and f"{a}n" not in netns_names()
        assert {n: stable(m) for n, m in host_links().items() if n.startswith(b)} == b_state
        assert f"{b}n" in netns_names()
        r = nslab_cli("--host", "--lab", a, "clean")  # clean of a finds nothing, and leaves b alone
        assert r.returncode == 0 and "removed 0 objects" in r.stdout, r.stdout
        assert {n: stable(m) for n, m in host_links().items() if n.startswith(b)} == b_state
    finally:
        for lab in (a, b):
            nslab_cli("--host", "--lab", lab, "clean")
    assert netns_names() == ns_before and set(host_links()) == links_before


def steps(n: int) -> list[str]:
    cycle = ["link v0 up", "addr add v0 10.40.0.1/24", "n1 link eth0 up", "n1 addr add eth0 10.40.0.2/24",
             "expect reach 10.40.0.2", "n1 addr del eth0 10.40.0.2/24", "addr del v0 10.40.0.1/24", "link v0 down"]
    return [cycle[i % len(cycle)] for i in range(n)]


def test_a_thousand_step_replay_keeps_memory_flat() -> None:
    with Lab() as lab:
        assert lab.run("ns add n1").ok and lab.run("veth v0 n1:eth0").ok
        script = steps(1000)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        at: dict[int, int] = {}
        for i, line in enumerate(script, 1):
            out = lab.run(line)
            assert out.ok, (i, line, out.error)
            if i in (250, 1000):
                gc.collect()
                at[i] = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    per_step = (at[1000] - at[250]) / 750
    FIGURES.update(at250=at[250], at1000=at[1000], per_step=per_step, peak=peak)
    print(f"memory: {at[250] / 1e6:.2f} MB after 250 steps, {at[1000] / 1e6:.2f} MB after 1000, "
          f"{per_step:.0f} B per step, peak {peak / 1e6:.2f} MB")
    assert per_step < PER_STEP_BYTES
    assert at[1000] < 4 * at[250] + 2_000_000  # linear in the journal at most, nothing quadratic


def test_a_thousand_step_replay_rss_in_a_subprocess(tmp_path: Path) -> None:
    """The real command: VmHWM of `nslab run` at 250 and at 1000 steps (read before it exits)."""
    hwm = {}
    for n in (250, 1000):
        lab = tmp_path / f"s{n}.lab"
        lab.write_text("ns add n1\nveth v0 n1:eth0\n" + "\n".join(steps(n)) + "\nexec host sleep 1\n")
        p = popen_nslab("run", "-q", str(lab))
        peak = 0
        while p.poll() is None:
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                break
            time.sleep(0.05)
        assert p.wait() == 0
        hwm[n] = peak
    FIGURES.update(hwm250_kb=hwm[250], hwm1000_kb=hwm[1000])
    print(f"VmHWM: {hwm[250]} kB at 250 steps, {hwm[1000]} kB at 1000 steps")
    assert hwm[250] > 0 and hwm[1000] < hwm[250] * 1.5 + 16_000
