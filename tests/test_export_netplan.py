"""`export netplan` and `export networkd` judged by oracles nslab did not write: Debian's
`netplan generate` must accept every file for every bundled lab and exercise solution, the
networkd files it generates must carry the addresses, bridges, ports and routes `ip -j` finds in
the built lab, and nslab's own networkd files must say what netplan's say, key by key."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import ns_path
from labworlds import LABS, OWN, bundled
from networkdkit import keyed, lab_namespaces, networkd, oracle

SOLUTIONS = sorted((LABS / "exercises").glob("*.solution.lab"))
CASES = [(p.stem, p.read_text()) for p in [*bundled(), *SOLUTIONS]] + list(OWN.items())
NETPLAN = shutil.which("netplan") or "/usr/sbin/netplan"


def build(lab, text: str, path: Path) -> None:
    path.write_text(text)
    for out in lab.run_file(str(path)):
        assert out.ok, f"{out.step.text if out.step else ''}: {out.error}"


def generate(netplan_file: Path, root: Path) -> Path:
    """netplan's own generator on one machine's file; its networkd directory."""
    (root / "etc" / "netplan").mkdir(parents=True)
    shutil.copy2(netplan_file, root / "etc" / "netplan" / netplan_file.name)
    proc = subprocess.run([NETPLAN, "generate", "--root-dir", str(root)], capture_output=True, text=True)
    assert proc.returncode == 0 and "Error" not in proc.stderr, f"netplan refused {netplan_file}: {proc.stderr}"
    assert "permissions" not in proc.stderr, proc.stderr  # netplan warns of a file others can read
    return root / "run" / "systemd" / "network"


def comparable(generated: dict) -> dict:
    """netplan leaves a bare port with no .network of its own only when nothing names it."""
    return {"bridges": generated["bridges"], "links": generated["links"]}


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_netplan_accepts_every_file_and_generates_the_lab(name, text, lab, tmp_path):
    build(lab, text, tmp_path / f"{name}.lab")
    out = lab.run(f"export netplan {tmp_path}/np")
    assert out.ok, out.error
    machines = {p.name for p in (tmp_path / "np").iterdir()}
    assert machines == {"host", *lab_namespaces()}  # one machine per namespace, the host too
    for ns in sorted(machines):
        file = tmp_path / "np" / ns / "50-nslab.yaml"
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
        generated = networkd(generate(file, tmp_path / f"root-{ns}"))
        want = oracle(ns_path(lab, ns))
        # every interface the lab has there is configured, and nothing else
        assert set(generated["links"]) == set(want["links"]), (ns, file.read_text())
        assert generated["bridges"] == want["bridges"], ns
        for link, got in generated["links"].items():
            assert got == want["links"][link], (ns, link, file.read_text())


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_networkd_export_says_what_netplan_generates(name, text, lab, tmp_path):
    build(lab, text, tmp_path / f"{name}.lab")
    assert lab.run(f"export netplan {tmp_path}/np").ok
    out = lab.run(f"export networkd {tmp_path}/nd")
    assert out.ok, out.error
    for ns in sorted(p.name for p in (tmp_path / "np").iterdir()):
        theirs = generate(tmp_path / "np" / ns / "50-nslab.yaml", tmp_path / f"root-{ns}")
        mine = tmp_path / "nd" / ns
        for path in mine.iterdir():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        assert networkd(mine) == networkd(theirs), ns
        # key by key: the same files (10-netplan-X / 10-nslab-X), the same keys in each section
        k_mine = {f.replace("10-nslab-", ""): v for f, v in keyed(mine).items()}
        k_theirs = {f.replace("10-netplan-", ""): v for f, v in keyed(theirs).items()}
        assert k_mine == k_theirs, ns
