"""Bounded input (issue 10, hole 11): what nslab reads cannot exhaust it, hang it or crash it.

Non-regular files and files over the limit are refused before a byte is read, standard
input is read to the limit and no further, a long line parses in linear time, a chain of
`source` stops at a stated depth, and words the kernel cannot take (a 1 MB exec argument,
a 16-byte interface name, an IPv6 zone) are refused with words, never `internal error`.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ip_j, nslab_cli

from nslab.lang.parser import parse_line

MAX_LAB_BYTES = 16 << 20  # the stated limit (nslab.lang.labfile.MAX_LAB_BYTES)


def assert_clear(res, *words: str) -> None:
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "internal error" not in out, out[-2000:]
    for w in words:
        assert w in out, out[-2000:]


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.lab"
    os.mkfifo(fifo)
    res = nslab_cli("run", str(fifo), timeout=20)  # today: blocks in open() until the timeout
    assert res.returncode == 2
    assert_clear(res, f"{fifo} is a FIFO", "regular files only")


@pytest.mark.parametrize("path, what", [("/dev/zero", "a character device"), ("/tmp", "a directory")])
def test_device_and_directory_are_refused(path: str, what: str) -> None:
    res = nslab_cli("run", path, timeout=30)  # today /dev/zero: gigabytes of memory, then a crash
    assert res.returncode == 2
    assert_clear(res, f"{path} is {what}")


def test_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.lab"
    with open(big, "wb") as f:
        f.truncate(MAX_LAB_BYTES + 1)  # sparse: refused by its size, before any read
    res = nslab_cli("run", str(big), timeout=30)
    assert res.returncode == 2
    assert_clear(res, f"{big} is larger than 16 MiB")


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    ok = tmp_path / "ok.lab"
    comment = b"# padding\n"
    body = b"ns add a\n"
    ok.write_bytes(comment * ((MAX_LAB_BYTES - len(body)) // len(comment)) + body)
    res = nslab_cli("run", str(ok), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "added a" in res.stdout


def test_stdin_is_bounded() -> None:
    res = nslab_cli("run", "-", input="#" * (MAX_LAB_BYTES + 1), timeout=60)
    assert res.returncode == 2
    assert_clear(res, "standard input is larger than 16 MiB")


def test_source_chain_stops_at_a_stated_depth(tmp_path: Path) -> None:
    n = 490
    for i in range(1, n + 1):
        (tmp_path / f"f{i}.lab").write_text(f"source {tmp_path}/f{i + 1}.lab\n")
    (tmp_path / f"f{n + 1}.lab").write_text("ns add deep\n")
    res = nslab_cli("run", str(tmp_path / "f1.lab"), timeout=60)  # today: RecursionError
    assert res.returncode == 1
    assert_clear(res, "source nested more than 64 files deep", f"{tmp_path}/f2.lab -> ", f"at {tmp_path}/f66.lab")
    assert "added deep" not in res.stdout


def test_a_short_source_chain_still_runs(tmp_path: Path) -> None:
    for i in range(1, 11):
        (tmp_path / f"f{i}.lab").write_text(f"source {tmp_path}/f{i + 1}.lab\n")
    (tmp_path / "f11.lab").write_text("ns add deep\n")
    res = nslab_cli("run", str(tmp_path / "f1.lab"), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "added deep" in res.stdout


def _seconds(fn: Callable[[], object]) -> float:
    gc.disable()  # a collection in the middle of one run would look like a cliff
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def assert_linear(make: Callable[[int], Callable[[], object]], small_n: int = 2000, factor: int = 8) -> None:
    """factor times the words must cost about factor times (quadratic: factor squared).  The
    small size is timed at its best of 5; the large one may take 3 tries on a busy machine."""
    small = min(_seconds(make(small_n)) for _ in range(5))
    bound = 3 * factor * small + 0.05
    tries = []
    for _ in range(3):
        tries.append(_seconds(make(small_n * factor)))
        if tries[-1] < bound:
            return
        if tries[-1] > 4 * bound:
            break  # no busy machine explains that: the cliff is there
    raise AssertionError(f"{small_n} words: {small:.4f} s, {small_n * factor}: {tries} s (bound {bound:.4f} s)")


def _words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


@pytest.mark.parametrize("form", ["exec", "ns add", "bridge br0 add"])
def test_parse_is_linear(form: str) -> None:
    """Today: 1,000 words 0.08 s, 8,000 words 2.8 s, 64,000 words 219 s (exec)."""
    assert_linear(lambda n: lambda: parse_line(f"{form} {_words(n)}"))


def test_repl_validator_highlighter_and_completion_are_linear() -> None:
    """Today a 10,000-word paste froze the REPL: the validator parsed in quadratic time and
    asked the completer, which recursed once per word (RecursionError past ~1,000 words)."""
    from prompt_toolkit.document import Document
    from prompt_toolkit.validation import ValidationError

    from nslab.faces.completion import fits
    from nslab.faces.highlight import NslabLexer
    from nslab.faces.repl import _validator

    validator = _validator()

    def both(n: int) -> Callable[[], object]:
        line = f"ns add {_words(n)} /bad"  # an error at the end: the validator's slow path
        return lambda: (pytest.raises(ValidationError, validator.validate, Document(line)),
                        list(NslabLexer().get_tokens_unprocessed(line)), fits(line[:-4]))

    assert_linear(both)


def _run(tmp_path: Path, text: str):
    lab = tmp_path / "t.lab"
    lab.write_text(text)
    return nslab_cli("run", str(lab), timeout=60)


def test_a_megabyte_exec_argument_is_refused_in_words(tmp_path: Path) -> None:
    res = _run(tmp_path, "ns add a\na exec true " + "x" * 1_000_000 + "\n")  # today: internal error, E2BIG
    assert res.returncode == 2
    assert_clear(res, "a word of 1000000 bytes is longer than the kernel passes to a program", ":2:13:")


def test_exec_argument_at_the_kernel_limit_runs(tmp_path: Path) -> None:
    res = _run(tmp_path, "ns add a\na exec sh -c 'echo ${#1}' sh " + "x" * 131071 + "\n")
    assert res.returncode == 0, res.stderr[-500:]
    assert "131071" in res.stdout


def test_interface_names_are_counted_in_bytes(tmp_path: Path) -> None:
    # 8 characters, 16 bytes: the kernel's IFNAMSIZ is 16 with the NUL, so 15 bytes at most
    res = _run(tmp_path, "ns add a\nveth a:éééééééé a:b\n")  # today: internal error (Numerical result out of range)
    assert res.returncode == 2
    assert_clear(res, "expected an interface name of 1-15 bytes, got 'éééééééé' (16 bytes, 8 characters)")


def test_a_15_byte_utf8_name_works(tmp_path: Path) -> None:
    res = _run(tmp_path, "ns add a\nveth a:ééééééé0 a:b\nexec a ip -j link show\n")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ééééééé0" in res.stdout


@pytest.mark.parametrize("line, zone", [
    ("route add default via fe80::1%eth0", "eth0"),
    ("route add 2001:db8::/64 via fe80::1%eth0 dev eth0", "eth0"),
    ("addr add eth0 fe80::5%eth0/64", "eth0"),
])
def test_an_ipv6_zone_is_refused_in_words(tmp_path: Path, line: str, zone: str) -> None:
    # ip refuses it too ("inet6 address is expected rather than fe80::1%eth0"); netlink has no zone field
    res = _run(tmp_path, f"ns add a\nveth a:eth0 a:eth1\nlink a:eth0 up\na {line}\n")
    assert res.returncode == 2
    assert_clear(res, f"has a zone (%{zone}): name the interface with `dev {zone}`")


def test_a_link_local_gateway_with_dev_works(lab) -> None:
    for line in ("ns add a", "veth a:eth0 a:eth1", "link a:eth0 up", "a route add default via fe80::1 dev eth0"):
        assert lab.run(line).ok, line
    routes = ip_j(lab, "a", "-6", "route", "show", "default")
    assert [(r["gateway"], r["dev"]) for r in routes] == [("fe80::1", "eth0")]


def test_a_link_local_gateway_without_dev_says_what_is_missing(lab) -> None:
    for line in ("ns add a", "veth a:eth0 a:eth1", "link a:eth0 up"):
        assert lab.run(line).ok, line
    out = lab.run("a route add default via fe80::1")
    assert not out.ok and out.error == "a link-local gateway needs its interface: route add default via fe80::1 dev IF"
    assert ip_j(lab, "a", "-6", "route", "show", "default") == []
