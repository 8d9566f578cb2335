"""`save` writes only what replays in a fresh lab (issue 12, item 7): each line is judged by the dry
run first, what would not replay is left out and named; every program that ran is kept (where it
ran); `save --expects` keeps the goals that held, so the saved file graded by `check` passes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ip_j

from nslab.base.results import ExpectResult, Message, Table
from nslab.lab import Lab


def ok(lab: Lab, line: str) -> None:
    out = lab.run(line)
    assert out.ok, (line, out.error)


def said(lab: Lab, line: str) -> list[Message]:
    out = lab.run(line)
    assert out.ok, (line, out.error)
    return [e for e in out.events if isinstance(e, Message)]


def test_a_step_that_would_not_replay_is_left_out_and_named(lab: Lab, tmp_path: Path) -> None:
    with Lab(root="current") as other:  # a second session on the same /run/netns, as an attached REPL
        ok(other, "ns add elsewhere")
        ok(lab, "ns add n1")
        ok(lab, "ns del elsewhere")  # this journal never saw it made
        path = tmp_path / "s.lab"
        words = said(lab, f"save {path}")
    assert [m.style for m in words] == ["warn", "ok"], words
    assert words[0].text == (f"left out of {path}: `ns del elsewhere` (step {lab.journal.steps[-2].n}): "
                             "a fresh lab would refuse it: no namespace 'elsewhere'")
    assert words[1].text == f"saved 1 step to {path} (1 left out: it replays without them)"
    assert path.read_text() == "ns add n1\n"


def test_every_program_that_ran_is_kept_where_it_ran_and_a_failed_one_is_not(lab: Lab, tmp_path: Path) -> None:
    ok(lab, "ns add gone")
    ok(lab, "exec gone ip link set lo up")  # its namespace is deleted later: still kept, it replays
    ok(lab, "ns del gone")
    ok(lab, "ns add a")
    ok(lab, "enter a")
    ok(lab, "exec ip -br link")  # read-only, kept all the same: one rule for every program
    assert not lab.run("exec false").ok
    path = tmp_path / "p.lab"
    assert [m.style for m in said(lab, f"save {path}")] == ["ok"]
    assert path.read_text().splitlines() == ["ns add gone", "gone exec ip link set lo up", "ns del gone", "ns add a",
                                             "a exec ip -br link"]
    ok(lab, "reset")  # the same lab, emptied (one process shares one /run/netns): and it replays
    outs = lab.run_file(str(path))
    assert [o.ok for o in outs] == [True] * 5, [o.error for o in outs]
    assert [m["ifname"] for m in ip_j(lab, "a", "link", "show")] == ["lo"]


def test_save_expects_round_trips_through_check(lab: Lab, tmp_path: Path) -> None:
    for line in ["ns add a b", "veth a:e0 b:e0", "a addr add e0 10.6.0.1/24", "b addr add e0 10.6.0.2/24",
                 "a link e0 up", "b link e0 up", "a expect reach 10.6.0.2", "expect addr a:e0 10.6.0.1/24",
                 "expect link b:e0 up"]:
        ok(lab, line)
    assert not lab.run("expect addr a:e0 10.6.0.99/24").ok  # a goal that did not hold: left out, said
    path = tmp_path / "graded.lab"
    words = said(lab, f"save --expects {path}")
    assert "`expect addr a:e0 10.6.0.99/24`" in words[0].text and "did not hold" in words[0].text
    text = path.read_text()
    assert "a expect reach 10.6.0.2\n" in text and "expect link b:e0 up\n" in text and "10.6.0.99" not in text
    plain = tmp_path / "plain.lab"
    said(lab, f"save {plain}")
    assert "expect" not in plain.read_text()  # without --expects, the goals stay out
    ok(lab, "reset")
    assert not Path("/run/netns/a").exists()
    assert all(o.ok for o in lab.run_file(str(plain)))  # the saved file rebuilds the lab...
    graded = lab.run(f"check {path}")  # ...and the goals saved with it grade it as passed
    assert graded.ok, graded.error
    table = next(e for e in graded.events if isinstance(e, Table))
    assert "3/3 passed" in table.title, table.title
    assert not [e for e in graded.events if isinstance(e, ExpectResult) and not e.ok]
    assert ip_j(lab, "a", "addr", "show", "e0")[0]["addr_info"][0]["local"] == "10.6.0.1"


def _attached(tmp: str, env: dict):  # type: ignore[no-untyped-def]
    """`nslab attach` on a pseudo-terminal of its own: a second student's terminal on the same lab."""
    import fcntl
    import os
    import struct
    import subprocess
    import sys
    import termios
    import time

    from conftest import ROOT
    from test_repl_pty import Terminal

    t = Terminal.__new__(Terminal)
    t.env = env
    t.master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    os.set_blocking(t.master, False)
    t.started = time.perf_counter()
    t.proc = subprocess.Popen([sys.executable, "-m", "nslab", "attach"], stdin=slave, stdout=slave, stderr=slave,
                              env=env, cwd=ROOT, start_new_session=True,
                              preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    t.screen = b""
    return t


def test_save_after_an_attached_repl_replays_cleanly_in_a_fresh_lab(tmp_path: Path) -> None:
    """Two terminals on one lab: the attached one makes a namespace, the main one deletes it and
    saves.  The file leaves the bare `ns del` out, says so, and replays with `nslab run`; the
    replayed lab is judged by `ip -j`."""
    import subprocess

    from conftest import nslab_cli
    from test_repl_pty import Terminal

    main = Terminal(str(tmp_path))
    other = None
    saved = tmp_path / "mine.lab"
    try:
        main.wait_for(r"nslab>")
        main.type("ns add a\r")
        main.wait_for(r"nslab>")
        other = _attached(str(tmp_path), main.env)
        other.wait_for(r"nslab\[attached\]>")
        other.type("ns add visitor\r")
        other.wait_for(r"added visitor")
        other.type("exit\r")
        other.proc.wait(timeout=15)
        main.type("veth a:e0 e1\r")
        main.wait_for(r"nslab>")
        main.type("ns del visitor\r")
        main.wait_for(r"deleted visitor")
        main.wait_for(r"nslab>")
        main.type(f"save {saved}\r")
        main.wait_for(r"left out of \S*mine\.lab: `ns del visitor` \(step \d+\): a fresh lab would refuse it: "
                      r"no namespace 'visitor'")
        main.wait_for(r"saved 2 steps to \S*mine\.lab \(1 left out")
        main.type("exit!\r")
        assert main.proc.wait(timeout=15) == 0
    finally:
        main.close()
        if other is not None:
            other.close()
    assert saved.read_text() == "ns add a\nveth a:e0 e1\n"
    # replayed by `nslab run` on this test's own isolated host (the pytest process is isolated)
    r = nslab_cli("--host", "--lab", "savetest", "--no-color", "run", str(saved))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        def ip_j(*argv: str) -> list[dict]:
            return json.loads(subprocess.run([*argv], capture_output=True, text=True, check=True).stdout)

        inside = ip_j("nsenter", "--net=/run/netns/a", "ip", "-j", "link", "show")
        assert [m["ifname"] for m in inside] == ["lo", "e0"]
        host_end = ip_j("ip", "-j", "link", "show", "e1")
        assert host_end[0]["ifname"] == "e1" and host_end[0]["link_netnsid"] is not None  # its peer is in a
        assert not Path("/run/netns/visitor").exists()
    finally:
        reset = nslab_cli("--host", "--lab", "savetest", "--no-color", "reset")
        assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not Path("/run/netns/a").exists()
