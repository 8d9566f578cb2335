"""A host lab's records: one process at a time, damage read around, private files.

Host mode here acts on the pytest process's private root namespace, /run/netns and
/run/nslab (tests/conftest.py isolates it at import), never on the machine's.
Oracles: /run/netns, `ip -j -d link`, /proc/locks, stat(2), and `runuser -u nobody`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT, nslab_cli

from nslab.engine.hostlog import HostLog
from nslab.engine.lablock import LabBusyError, LabLock
from nslab.kernel import isolate
from nslab.ops.journal import Journal

STATE = Path("/run/nslab")


def popen_nslab(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    return subprocess.Popen([sys.executable, "-m", "nslab", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc is None or proc.poll() is None, f"nslab ended early: {proc.communicate()[0]}"
        assert time.monotonic() < deadline, "never ready"
        time.sleep(0.01)


def tagged_links(lab: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [m["ifname"] for m in json.loads(out or "[]") if m.get("ifalias") == f"nslab:{lab}"]


def netns_with(prefix: str) -> list[str]:
    return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))


def lock_holders(path: Path) -> list[int]:
    """PIDs with an flock on `path`, as the kernel lists them."""
    st = path.stat()
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    words = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    return [int(w[4]) for w in words if len(w) > 5 and w[1] == "FLOCK" and w[5] == key]


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh host lab name; whatever it left is cleaned by name afterwards."""
    lab = "j" + uuid.uuid4().hex[:6]
    yield lab
    nslab_cli("--host", "--lab", lab, "clean")
    shutil.rmtree(STATE / lab, ignore_errors=True)


def lab_file(tmp_path: Path, prefix: str, n: int, tail: str = "") -> Path:
    path = tmp_path / f"{prefix}.lab"
    path.write_text("".join(f"ns add {prefix}{i}\n" for i in range(n)) + tail)
    return path


# -- hole 8: two processes on one lab -------------------------------------------------

def test_a_second_writer_is_refused_with_the_holders_pid_and_the_record_stays_whole(tmp_path, name):
    a = lab_file(tmp_path, f"{name}a", 20, f"exec {name}a0 sleep 3\nns add {name}azz\n")
    b = lab_file(tmp_path, f"{name}b", 10)
    first = popen_nslab("--host", "--lab", name, "run", str(a))
    wait_for(lambda: os.path.exists(f"/run/netns/{name}a19"), first)
    second = nslab_cli("--host", "--lab", name, "run", str(b))
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"PID {first.pid}" in second.stderr and "in use" in second.stderr
    assert "Traceback" not in second.stderr
    assert netns_with(f"{name}b") == []  # refused before it touched anything
    assert first.wait(timeout=60) == 0, first.communicate()[0]
    steps = [json.loads(line) for line in (STATE / name / "journal.jsonl").read_text().splitlines()[1:]]
    numbers = [s["n"] for s in steps]
    assert len(numbers) == len(set(numbers)) == 21  # 20 + the last ns add; exec changes nothing
    reset = nslab_cli("--host", "--lab", name, "reset")
    assert reset.returncode == 0, reset.stderr
    assert netns_with(name) == [] and tagged_links(name) == []


def test_writers_started_together_each_run_whole_or_not_at_all(tmp_path, name):
    labs = [lab_file(tmp_path, f"{name}{k}x", 15, f"exec {name}{k}x0 sleep 1\n") for k in range(4)]
    procs = [popen_nslab("--host", "--lab", name, "run", str(lab)) for lab in labs]
    results = [(p.wait(timeout=120), p.communicate()[0]) for p in procs]
    ran = [k for k, (rc, _) in enumerate(results) if rc == 0]
    refused = [k for k, (rc, out) in enumerate(results) if rc == 2 and "in use by PID" in out]
    assert sorted(ran + refused) == [0, 1, 2, 3] and ran, results
    for k in range(4):  # a refused writer made nothing; one that ran made all of its lab
        assert netns_with(f"{name}{k}x") == ([f"{name}{k}x{i}" for i in sorted(map(str, range(15)))] if k in ran else [])
    numbers = [json.loads(line)["n"] for line in (STATE / name / "journal.jsonl").read_text().splitlines()[1:]]
    assert len(numbers) == len(set(numbers)) == 15 * len(ran)
    reset = nslab_cli("--host", "--lab", name, "reset")
    assert reset.returncode == 0, reset.stderr
    assert netns_with(name) == [] and tagged_links(name) == []


def test_the_lock_goes_with_a_killed_holder(tmp_path, name):
    lab = lab_file(tmp_path, name, 2, f"exec {name}0 sleep 30\n")
    holder = popen_nslab("--host", "--lab", name, "run", str(lab))
    lock = STATE / name / "lock"
    wait_for(lambda: lock.exists() and lock_holders(lock) == [holder.pid], holder)
    assert lock.read_text().strip() == str(holder.pid)
    # the program it started must not keep the lock (the fd is close-on-exec)
    wait_for(lambda: Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split() != [], holder)
    sleeper = int(Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()[0])
    # between fork and exec the child still has every descriptor: judge the program, once it runs
    wait_for(lambda: Path(f"/proc/{sleeper}/comm").read_text().strip() == "sleep", holder)
    try:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert lock_holders(lock) == []
        reset = nslab_cli("--host", "--lab", name, "reset")
        assert reset.returncode == 0, reset.stderr
        assert netns_with(name) == []
    finally:
        os.kill(sleeper, signal.SIGKILL)


def test_check_shares_the_lock_and_run_does_not(tmp_path, name):
    nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, name, 1)))
    goal = tmp_path / "goal.lab"
    goal.write_text(f"expect ns {name}0\n")
    before = (STATE / name / "journal.jsonl").read_bytes()
    with open(STATE / name / "lock", "rb") as f:
        fcntl.flock(f, fcntl.LOCK_SH)  # a reader (this process) holds it
        check = nslab_cli("--host", "--lab", name, "check", str(goal))
        assert check.returncode == 0, check.stdout + check.stderr
        run = nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, f"{name}x", 1)))
        assert run.returncode == 2 and f"PID {os.getpid()}" in run.stderr, run.stderr
        fcntl.flock(f, fcntl.LOCK_UN)
        fcntl.flock(f, fcntl.LOCK_EX)  # a writer holds it: the reader is refused too
        check = nslab_cli("--host", "--lab", name, "check", str(goal))
        assert check.returncode == 2 and f"PID {os.getpid()}" in check.stderr, check.stderr
    assert netns_with(f"{name}x") == [] and (STATE / name / "journal.jsonl").read_bytes() == before


def test_a_host_repl_is_refused_before_its_prompt(tmp_path, name):
    nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, name, 1)))
    with open(STATE / name / "lock", "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        repl = nslab_cli("--host", "--lab", name, input=f"ns add {name}q\n")
    assert repl.returncode == 2 and f"PID {os.getpid()}" in repl.stderr, repl.stdout + repl.stderr
    assert "nslab[" not in repl.stdout and netns_with(f"{name}q") == []  # no prompt, nothing made


# -- hole 9: damaged records ------------------------------------------------------------

def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def not_an_object(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    j.write_bytes(b"".join(lines[:2] + [b"[1, 2, 3]\n"] + lines[2:]))
    return "journal.jsonl", 3


def unknown_field(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    step = json.loads(lines[1])
    step["from_the_future"] = {"x": 1}
    j.write_bytes(b"".join([lines[0], json.dumps(step).encode() + b"\n"] + lines[2:]))
    return "journal.jsonl", 2


def invalid_utf8(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    j.write_bytes(b"".join(lines[:2] + [b'{"n": 50, "text": "\xff\xfe"}\n'] + lines[2:]))
    return "journal.jsonl", 3


def step_missing_field(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    step = json.loads(lines[2])
    del step["context"]
    j.write_bytes(b"".join(lines[:2] + [json.dumps(step).encode() + b"\n"] + lines[3:]))
    return "journal.jsonl", 3


def journal_op_missing_field(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    step = json.loads(lines[2])
    step["inverse"] = [{"op": "link_del", "ns": "host"}]  # no name
    j.write_bytes(b"".join(lines[:2] + [json.dumps(step).encode() + b"\n"] + lines[3:]))
    return "journal.jsonl", 3


def oplog_op_missing_field(d: Path) -> tuple[str, int]:
    o = d / "ops.jsonl"
    with open(o, "ab") as f:
        f.write(b'{"step": 900, "intent": {"op": "veth", "ns": "host"}}\n')
    return "ops.jsonl", len(_lines(o))


def oplog_not_utf8(d: Path) -> tuple[str, int]:
    o = d / "ops.jsonl"
    with open(o, "ab") as f:
        f.write(b'{"step": 901, "undo": [{"op": "ns_del", "ns": "\xc3"}]}\n')
    return "ops.jsonl", len(_lines(o))


def truncated_last_line(d: Path) -> tuple[str, int]:
    j = d / "journal.jsonl"
    lines = _lines(j)
    j.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    return "journal.jsonl", len(lines)


DAMAGE = [not_an_object, unknown_field, invalid_utf8, step_missing_field, journal_op_missing_field,
          oplog_op_missing_field, oplog_not_utf8, truncated_last_line]


def damaged_lab(tmp_path: Path, name: str) -> Path:
    """A host lab of three steps (two namespaces, a veth, a bridge) whose op log is not empty."""
    lab = tmp_path / "d.lab"
    lab.write_text(f"ns add {name}1 {name}2\nveth {name}1:e0 {name}2:e0\nbridge add {name}br\n"
                   f"veth {name}h {name}1:e1\n")
    out = nslab_cli("--host", "--lab", name, "run", str(lab))
    assert out.returncode == 0, out.stdout + out.stderr
    return STATE / name


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("command", ["reset", "clean"])
def test_damaged_records_are_reported_by_line_and_reset_and_clean_still_finish(tmp_path, name, damage, command):
    folder = damaged_lab(tmp_path, name)
    file, line = damage(folder)
    kept = tmp_path / "kept"
    shutil.copytree(folder, kept)  # the damaged records as they were, for the reader's report
    out = nslab_cli("--host", "--lab", name, command)
    assert "Traceback" not in out.stderr and "internal error" not in out.stdout + out.stderr, out.stderr
    if command == "reset":  # what reset could not read is left to clean, which sweeps by tag
        assert out.returncode in (0, 1), out.stderr
        out = nslab_cli("--host", "--lab", name, "clean")
    assert out.returncode == 0, out.stdout + out.stderr
    assert netns_with(name) == [] and tagged_links(name) == []
    journal = Journal(str(kept / "journal.jsonl"))
    log = HostLog(str(kept / "ops.jsonl"))
    log.pending({s.n for s in journal.steps})
    assert any(p.startswith(f"{kept / file}:{line}: ") for p in journal.problems + log.problems), \
        journal.problems + log.problems


@pytest.mark.parametrize("file", ["journal.jsonl", "ops.jsonl"])
def test_records_of_a_newer_nslab_are_never_written(tmp_path, name, file):
    folder = damaged_lab(tmp_path, name)
    kind = "journal" if file == "journal.jsonl" else "ops"
    path = folder / file
    lines = _lines(path)
    assert json.loads(lines[0]) == {"nslab": kind, "format": 2}
    path.write_bytes(json.dumps({"nslab": kind, "format": 99}).encode() + b"\n" + b"".join(lines[1:]))
    before = {f: (folder / f).read_bytes() for f in ("journal.jsonl", "ops.jsonl")}
    for command in ("reset", "clean"):
        out = nslab_cli("--host", "--lab", name, command)
        assert out.returncode == 2 and "newer nslab" in out.stderr and "format 99" in out.stderr, out.stderr
    assert {f: (folder / f).read_bytes() for f in before} == before
    assert netns_with(name) == [f"{name}1", f"{name}2"]
    path.write_bytes(b"".join(lines))  # put back, for the fixture's clean


def test_a_removed_lab_directory_is_made_again_for_the_next_holder(tmp_path):
    base = tmp_path / "state"
    base.mkdir(mode=0o755)
    first = LabLock(str(base / "x"), "x")
    assert first.remove_dir() and not (base / "x").exists()  # the lab went empty: its directory goes
    second = LabLock(str(base / "x"), "x")  # a new directory and lock file, not the old inode
    assert lock_holders(base / "x" / "lock") == [os.getpid()]
    with pytest.raises(LabBusyError, match=f"PID {os.getpid()}"):
        LabLock(str(base / "x"), "x")
    first.release()
    second.release()
    LabLock(str(base / "x"), "x").release()


# -- hole 10: private files, no symlinks followed ------------------------------------------

@pytest.mark.parametrize("wider", [False, True], ids=["new", "was-wider"])
def test_the_labs_directory_is_private_even_when_it_was_wider(name, wider):
    folder = STATE / name
    if wider:  # as an older nslab (or somebody) left it
        folder.mkdir(parents=True)
        os.chmod(folder, 0o777)
        (folder / "journal.jsonl").write_text("")
        os.chmod(folder / "journal.jsonl", 0o644)
    # `undo` rewrites the journal with every step of the session, `exec` arguments included
    out = nslab_cli("--host", "--lab", name, input=f"ns add {name}1\nexec {name}1 true --password=hunter2\n"
                    f"ns add {name}2\nundo\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hunter2" in (folder / "journal.jsonl").read_text()
    assert oct(folder.stat().st_mode & 0o7777) == "0o700"
    files = sorted(os.listdir(folder))
    assert files == ["journal.jsonl", "lock", "ops.jsonl"]
    for f in files:
        assert oct((folder / f).stat().st_mode & 0o7777) == "0o600", f
        peek = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(folder / f)], capture_output=True, text=True)
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek


def test_a_directory_owned_by_someone_else_is_refused(tmp_path, name):
    folder = STATE / name
    folder.mkdir(parents=True)
    os.chown(folder, 65534, 65534)
    out = nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, name, 1)))
    assert out.returncode == 2 and "belongs to uid 65534" in out.stderr, out.stderr
    assert netns_with(name) == [] and os.listdir(folder) == []


@pytest.mark.parametrize("planted", ["", "journal.jsonl", "ops.jsonl", "lock", "journal.jsonl.tmp"])
def test_a_planted_symlink_is_never_followed(tmp_path, name, planted):
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "precious"
    victim.write_text("keep me\n")
    os.chmod(victim, 0o644)
    folder = STATE / name
    if planted:
        folder.mkdir(parents=True, mode=0o700)
        os.symlink(victim, folder / planted)
    else:
        STATE.mkdir(exist_ok=True)
        os.symlink(victim_dir, folder)
    out = nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, name, 1)))
    assert out.returncode == 2 and "symlink" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert victim.read_text() == "keep me\n" and oct(victim.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(victim_dir) == ["precious"] and netns_with(name) == []
    (folder / planted).unlink() if planted else folder.unlink()


def test_a_planted_hard_link_is_refused(tmp_path, name):
    folder = STATE / name
    folder.mkdir(parents=True, mode=0o700)
    victim = STATE / f"{name}-precious"  # same filesystem: a hard link needs it
    victim.write_text("keep me\n")
    os.chmod(victim, 0o644)
    try:
        os.link(victim, folder / "journal.jsonl")
        out = nslab_cli("--host", "--lab", name, "run", str(lab_file(tmp_path, name, 1)))
        assert out.returncode == 2 and "hard links" in out.stderr, out.stderr
        assert victim.read_text() == "keep me\n" and oct(victim.stat().st_mode & 0o777) == "0o644"
        assert netns_with(name) == []
    finally:
        victim.unlink()
        (folder / "journal.jsonl").unlink()
