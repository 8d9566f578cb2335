"""`nslab attach` trusts only what the caller owns (issue 10, hole 1).

An ordinary user (nobody) plants runtime directories, records and processes in a user and
mount namespace of its own; root's `nslab attach host -- CMD` must refuse each with a message
that names what is wrong, and CMD must never run (its marker file never appears).  The
oracles are the marker file, /proc, and `ip -j link` run by attach inside a real lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, nslab_cli
from test_repl_pty import Terminal

from nslab.base import environment
from nslab.kernel import isolate

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def base() -> Iterator[Path]:
    """A sticky, world-writable directory like /tmp, where nobody can make its own entries."""
    d = Path(tempfile.mkdtemp(prefix="nslab-attach-test."))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _wait(what: str, ok, timeout: float = 15.0) -> None:
    t0 = time.monotonic()
    while not ok():
        assert time.monotonic() - t0 < timeout, f"{what} never happened"
        time.sleep(0.05)


@pytest.fixture
def intruder() -> Iterator[subprocess.Popen]:
    """nobody's process in its own user, mount and network namespace, holding fd 7 on that
    network namespace and calling itself `nslab`: everything a record could name, spoofed."""
    p = subprocess.Popen([*NOBODY, "unshare", "-Urmn", "bash", "-c",
                          "exec 7</proc/self/ns/net; exec -a nslab sleep 120"])
    _wait("the intruder's setup", lambda: os.path.exists(f"/proc/{p.pid}/fd/7")
          and Path(f"/proc/{p.pid}/cmdline").read_bytes().startswith(b"nslab"))
    yield p
    p.kill()  # our own child, by its handle
    p.wait()


def record_of(pid: int, fd: int = 7) -> dict:
    """The record a REPL of process PID would write (the old format's fields and the new ones)."""
    proc = f"/proc/{pid}"

    def ident(path: str) -> list[int]:
        st = os.stat(path)
        return [st.st_dev, st.st_ino]

    ticks = int(Path(f"{proc}/stat").read_text().rsplit(")", 1)[1].split()[19])
    return {"pid": pid, "host_fd": fd, "name": "default", "started": time.time(), "start_ticks": ticks,
            "net": ident(f"{proc}/fd/{fd}"), "mnt": ident(f"{proc}/ns/mnt"), "user": ident(f"{proc}/ns/user")}


def own_dir(base: Path, name: str = "rt") -> Path:
    d = base / name
    d.mkdir(mode=0o700)
    return d


def attach_host(runtime: Path, marker: Path, *argv: str) -> subprocess.CompletedProcess:
    cmd = argv or ("sh", "-c", f"touch {marker}")
    return nslab_cli("attach", "host", "--", *cmd, env={"NSLAB_RUNTIME_DIR": str(runtime)}, timeout=60)


def refused(r: subprocess.CompletedProcess, marker: Path, *words: str) -> None:
    assert not marker.exists(), f"CMD ran: {r.stderr}"
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("nslab attach: "), r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_runtime_dir_another_user_made_first_is_refused(base: Path, intruder: subprocess.Popen):
    """The attack: nobody makes the directory root will look in and plants a record naming its
    own process; root's attach must not enter it."""
    runtime = base / "nslab-0"
    subprocess.run([*NOBODY, "mkdir", "-m", "700", str(runtime)], check=True)
    rec = json.dumps(record_of(intruder.pid))
    subprocess.run([*NOBODY, "sh", "-c", f"cat > {runtime}/{intruder.pid}.json"], input=rec, text=True, check=True)
    marker = base / "marker"
    r = attach_host(runtime, marker)
    refused(r, marker, f"{runtime} is owned by uid 65534, not you", "remove it")


def test_a_symlinked_runtime_dir_is_refused(base: Path, intruder: subprocess.Popen):
    target = base / "theirs"
    subprocess.run([*NOBODY, "mkdir", "-m", "700", str(target)], check=True)
    subprocess.run([*NOBODY, "sh", "-c", f"cat > {target}/{intruder.pid}.json"],
                   input=json.dumps(record_of(intruder.pid)), text=True, check=True)
    link = base / "nslab-0"
    link.symlink_to(target)
    marker = base / "marker"
    refused(attach_host(link, marker), marker, f"{link} is a symlink")


def test_a_record_that_is_a_symlink_is_refused(base: Path, intruder: subprocess.Popen):
    planted = base / "planted.json"
    subprocess.run([*NOBODY, "sh", "-c", f"cat > {planted}; chmod 644 {planted}"],
                   input=json.dumps(record_of(intruder.pid)), text=True, check=True)
    runtime = own_dir(base)
    (runtime / f"{intruder.pid}.json").symlink_to(planted)
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"record {runtime}/{intruder.pid}.json is a symlink")


def test_a_record_owned_by_another_uid_is_refused(base: Path, intruder: subprocess.Popen):
    runtime = own_dir(base)
    path = runtime / f"{intruder.pid}.json"
    path.write_text(json.dumps(record_of(intruder.pid)))
    os.chown(path, 65534, 65534)
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"record {path} is owned by uid 65534, not you")


def test_a_record_naming_another_users_process_is_refused(base: Path, intruder: subprocess.Popen):
    runtime = own_dir(base)
    path = runtime / f"{intruder.pid}.json"
    path.write_text(json.dumps(record_of(intruder.pid)))
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"PID {intruder.pid} (named by {path}) belongs to uid 65534")


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen]:
    """A process of root's own that is not nslab, holding fd 7 on a network namespace."""
    p = subprocess.Popen(["unshare", "-n", "bash", "-c", "exec 7</proc/self/ns/net; exec sleep 120"])
    _wait("the stranger's setup", lambda: os.path.exists(f"/proc/{p.pid}/fd/7")
          and Path(f"/proc/{p.pid}/cmdline").read_bytes().startswith(b"sleep"))
    yield p
    p.kill()
    p.wait()


def test_a_record_whose_pid_was_reused_is_refused(base: Path, stranger: subprocess.Popen):
    """The REPL that wrote the record died; its PID now belongs to another process of ours."""
    runtime = own_dir(base)
    rec = record_of(stranger.pid)
    rec["start_ticks"] -= 100  # the writer started a second earlier than the process now at that PID
    (runtime / f"{stranger.pid}.json").write_text(json.dumps(rec))
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"PID {stranger.pid} is not the process that wrote", "reused PID")


def test_a_record_naming_a_process_that_is_not_nslab_is_refused(base: Path, stranger: subprocess.Popen):
    runtime = own_dir(base)
    (runtime / f"{stranger.pid}.json").write_text(json.dumps(record_of(stranger.pid)))
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"PID {stranger.pid} (sleep) is not an nslab process")


def test_a_record_that_is_a_fifo_or_too_big_is_refused(base: Path):
    """A FIFO would hang the reader; a huge file would be read whole: both refused before reading."""
    runtime = own_dir(base)
    fifo = runtime / "1.json"
    os.mkfifo(fifo, 0o600)
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"record {fifo} is not a regular file")
    fifo.unlink()
    big = runtime / "2.json"
    big.write_text(" " * 100_000 + "{}")
    refused(attach_host(runtime, marker), marker, f"record {big} is 100002 bytes, larger than any record")


def test_a_missing_runtime_dir_is_made_private(base: Path):
    runtime = base / "fresh"
    r = nslab_cli("attach", "host", "--", "true", env={"NSLAB_RUNTIME_DIR": str(runtime)}, timeout=60)
    assert r.returncode == 2 and "no running isolated lab" in r.stderr
    st = os.lstat(runtime)
    assert st.st_uid == 0 and st.st_mode & 0o7777 == 0o700


def test_a_world_readable_runtime_dir_of_ours_is_refused(base: Path):
    runtime = own_dir(base)
    runtime.chmod(0o755)
    marker = base / "marker"
    refused(attach_host(runtime, marker), marker, f"{runtime} has mode 0755, not 0700")


class Pty(Terminal):
    """The REPL on a pseudo-terminal as test_repl_pty drives it, with our own command and environment."""

    def __init__(self, argv: list[str], env: dict, cwd: str) -> None:
        import fcntl
        import struct
        import termios

        self.env = env
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.set_blocking(self.master, False)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.screen = b""


def _root_repl(tmp: Path, runtime: Path) -> Pty:
    env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=str(tmp), NSLAB_RUNTIME_DIR=str(runtime),
               SHELL="/bin/sh", COLUMNS="120", LINES="40")
    env.pop(isolate.MARK, None)
    return Pty([sys.executable, "-m", "nslab"], env, str(ROOT))


def test_a_record_whose_namespaces_differ_is_refused(tmp_path: Path, base: Path):
    """A real REPL's record works; the same record with another network or mount namespace
    inode is refused, although PID, start time and owner all still match."""
    runtime = own_dir(base)
    term = _root_repl(tmp_path, runtime)
    try:
        term.wait_for(r"nslab>")
        term.type("veth nine0 nine1\r")
        term.wait_for(r"<->")  # the veth's answer: `nslab>` shows already in the echo of the typed line
        path = runtime / f"{term.proc.pid}.json"
        _wait("the record", path.exists)
        marker = base / "marker"
        r = attach_host(runtime, marker, "ip", "-j", "link")
        assert r.returncode == 0, r.stderr
        assert {"nine0", "nine1"} <= {x["ifname"] for x in json.loads(r.stdout)}
        good = json.loads(path.read_text())
        for key, what in (("net", "lab network"), ("mnt", "mount")):
            bad = dict(good, **{key: [good[key][0], good[key][1] + 1]})
            path.write_text(json.dumps(bad))
            r = attach_host(runtime, marker)
            refused(r, marker, f"PID {term.proc.pid} does not hold the {what} namespace {path} names",
                    f"inode {good[key][1] + 1} recorded, {good[key][1]} found")
        path.write_text(json.dumps(good))
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
        assert not path.exists()  # withdrawn on exit
    finally:
        term.close()


def test_the_repl_says_once_when_its_runtime_dir_is_not_trustworthy(tmp_path: Path, base: Path):
    """Today a pre-created directory silently disables attach; now the REPL says why, once, and goes on."""
    runtime = base / "nslab-0"
    subprocess.run([*NOBODY, "mkdir", "-m", "777", str(runtime)], check=True)
    term = _root_repl(tmp_path, runtime)
    try:
        term.wait_for(r"nslab>")
        shown = term.text()
        assert shown.count(f"nslab: {runtime} is owned by uid 65534, not you") == 1, shown
        assert "`nslab attach` cannot reach this lab" in shown
        term.type("ns add alpha\r")
        term.wait_for(r"added alpha")
        term.wait_for(r"nslab>")
        assert "owned by" not in term.text()
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()
    assert os.listdir(runtime) == []  # no record written into someone else's directory


def test_runtime_dir_is_named_by_the_real_uid_inside_a_user_namespace():
    """A rootless REPL is uid 0 in its user namespace: its records go where the user's attach looks."""
    code = ("import os\nfrom nslab.base import environment; from nslab.kernel import sysns\nsysns.unshare(sysns.CLONE_NEWUSER)\n"
            "open('/proc/self/uid_map', 'w').write(f'0 65534 1')\n"
            "print(os.getuid(), environment.runtime_dir({}))\n")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([*NOBODY, "/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "/tmp/nslab-65534"]
    assert environment.runtime_dir(os.environ) == Path(os.environ.get("NSLAB_RUNTIME_DIR") or f"/tmp/nslab-{os.getuid()}")


@pytest.fixture(scope="module")
def readable_deps() -> Iterator[Path]:
    """The packages the REPL imports, copied where nobody can read them (this interpreter's
    site-packages sit under /root), as test_modes.py does for `nslab run`."""
    import prompt_toolkit
    import pygments
    import rich
    import wcwidth

    d = Path(tempfile.mkdtemp(prefix="nslab-deps-"))
    try:
        d.chmod(0o755)
        for module in (rich, prompt_toolkit, pygments, wcwidth):
            package = Path(module.__file__).parent
            shutil.copytree(package, d / module.__name__)
            for info in package.parent.glob(f"{module.__name__}-*.dist-info"):  # prompt_toolkit reads its version
                shutil.copytree(info, d / info.name)
        subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_an_ordinary_user_attaches_to_its_own_rootless_lab(readable_deps: Path, base: Path):
    """nobody runs the REPL rootless (uid 0 in its user namespace), then attaches from outside as
    nobody and runs `ip -j link` in the lab: the lab's veth is there, and not in our namespace."""
    runtime = Path("/tmp/nslab-65534")  # the default, by the real uid: nothing set, as a user would run it
    made = not runtime.exists()
    wrong = Path("/tmp/nslab-0")  # where the old code published from inside the user namespace
    made_wrong = not wrong.exists()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{ROOT}:{readable_deps}", "HOME": "/",
           "XDG_STATE_HOME": str(base), "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
    term = Pty([*NOBODY, "/usr/bin/python3", "-m", "nslab"], env, "/")
    try:
        term.wait_for(r"nslab>", timeout=30)
        term.type("ns add alpha\r")
        term.wait_for(r"nslab>")
        term.type("veth alpha:eth7 host:peer7\r")
        term.wait_for(r"nslab>")
        pid = term.proc.pid  # setpriv execs python: the same PID
        record = runtime / f"{pid}.json"
        _wait("the rootless REPL's record", record.exists)
        assert os.stat(record).st_uid == 65534 and os.stat(runtime).st_uid == 65534
        r = subprocess.run([*NOBODY, "/usr/bin/python3", "-m", "nslab", "attach", "host", "--", "ip", "-j", "link"],
                           capture_output=True, text=True, env=env, cwd="/", timeout=60)
        assert r.returncode == 0, r.stderr
        names = {x["ifname"] for x in json.loads(r.stdout)}
        assert "peer7" in names and "eth7" not in names
        r = subprocess.run([*NOBODY, "/usr/bin/python3", "-m", "nslab", "attach", "alpha", "--", "ip", "-j", "link"],
                           capture_output=True, text=True, env=env, cwd="/", timeout=60)
        assert r.returncode == 0, r.stderr
        assert "eth7" in {x["ifname"] for x in json.loads(r.stdout)}
        ours = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
        assert "peer7" not in {x["ifname"] for x in json.loads(ours)}
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
        assert not record.exists()
    finally:
        term.close()
        if made:
            shutil.rmtree(runtime, ignore_errors=True)
        if made_wrong and wrong.exists() and wrong.stat().st_uid == 65534:
            shutil.rmtree(wrong, ignore_errors=True)  # nobody's, made by this test: it would block root's attach


def test_attach_imports_nothing_from_the_labs_mount_namespace(tmp_path: Path, base: Path):
    """The lab's mount namespace is another process's: what it mounts over nslab's own files
    (here: a copy of the package whose every module leaves a marker) must not be what the
    attached REPL imports after joining."""
    evil = tmp_path / "evil"
    shutil.copytree(ROOT / "nslab", evil, ignore=shutil.ignore_patterns("__pycache__"))
    marker = base / "imported"
    for module in evil.rglob("*.py"):
        with module.open("a") as f:
            f.write(f"\nimport os as _os\nopen(f'{marker}.{{_os.getpid()}}', 'w').close()\n")
    runtime = own_dir(base)
    lab = _root_repl(tmp_path, runtime)
    try:
        lab.wait_for(r"nslab>")
        lab.type("ns add anchored\r")
        lab.wait_for(r"added anchored")
        _wait("the record", lambda: (runtime / f"{lab.proc.pid}.json").exists())
        subprocess.run(["nsenter", f"--mount=/proc/{lab.proc.pid}/ns/mnt", "mount", "--bind", str(evil),
                        str(ROOT / "nslab")], check=True)
        env = dict(lab.env)
        joined = Pty([sys.executable, "-m", "nslab", "attach"], env, str(ROOT))
        try:
            joined.wait_for(r"nslab\[attached\]>", timeout=30)
            joined.type("ns ls\r")
            joined.wait_for(r"anchored")
            joined.type("exit\r")
            assert joined.proc.wait(timeout=15) == 0
        finally:
            joined.close()
        assert not Path(f"{marker}.{joined.proc.pid}").exists()
        lab.type("exit!\r")
        assert lab.proc.wait(timeout=15) == 0
    finally:
        lab.close()


def test_a_lab_replayed_with_run_i_can_be_attached(tmp_path: Path, base: Path):
    """`nslab run -i FILE` opens the REPL on the replayed lab: it publishes a record like `nslab` does."""
    runtime = own_dir(base)
    lab_file = tmp_path / "two.lab"
    lab_file.write_text("ns add ri1\nveth ri1:eth0 host:ri0\n")
    env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=str(tmp_path), NSLAB_RUNTIME_DIR=str(runtime))
    env.pop(isolate.MARK, None)
    term = Pty([sys.executable, "-m", "nslab", "run", "-i", str(lab_file)], env, str(ROOT))
    try:
        term.wait_for(r"nslab>")
        _wait("the record", lambda: (runtime / f"{term.proc.pid}.json").exists())
        r = attach_host(runtime, base / "unused", "ip", "-j", "link")
        assert r.returncode == 0, r.stderr
        assert "ri0" in {x["ifname"] for x in json.loads(r.stdout)}
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
        assert os.listdir(runtime) == []
    finally:
        term.close()
