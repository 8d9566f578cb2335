"""`.lab` files: lines of the language, with narration and `## sections`.

The whole file is parsed before anything runs, so an error anywhere stops the
replay before the first step touches the kernel.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..base.errors import Loc, NslabError, ParseError
from ..base.words import count
from .lexer import BLANKS, join_lines
from .parser import Command, Needs, parse_line

# what a lab's header may say it needs (`# needs: docker, ovs`); engine/needs.py checks each
NEEDS = {
    "docker": "a Docker engine this user may use, and root (to enter containers' namespaces)",
    "image": "the image `nslab image` builds (nslab/busybox:latest)",
    "ovs": "Open vSwitch installed (ovs-vsctl, ovsdb-server, ovs-vswitchd)",
}
_CONTAINER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


@dataclass
class LabFile:
    """A parsed .lab file: its commands, what it needs and its title."""

    path: str
    commands: list[Command]
    needs: Needs = Needs()
    title: str | None = None


class LabFileError(NslabError):
    """Every parse error of a file, each with its FILE:LINE:COL, line and caret."""

    def __init__(self, errors: list[ParseError]) -> None:
        super().__init__(f"{count(len(errors), 'error')} in {errors[0].loc.source}")
        self.errors = errors


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with `\\` continuations joined (lexer.join_lines, the one joiner)."""
    return [(line.number, line.text) for line in join_lines(text)]


def _directive(stripped: str, loc: Loc, line: str) -> tuple[str, list[str]] | None:
    """`# needs: docker, ovs` or `# containers: web db` (a header line); else None."""
    m = re.fullmatch(r"#\s*(needs|containers):\s*(.*)", stripped)
    if m is None:
        return None
    key, words = m.group(1), m.group(2).replace(",", " ").split()
    for word in words:
        bad = (word not in NEEDS) if key == "needs" else not _CONTAINER.fullmatch(word)
        if bad:
            at = re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w.-])", line)
            col = at.start() + 1 if at else 1
            what = f"one of {', '.join(NEEDS)}" if key == "needs" else "a container name"
            raise ParseError(f"# {key}: expected {what}, got {word!r}", Loc(loc.source, loc.line, col), line)
    return key, words


def parse_text(text: str, source: str) -> LabFile:
    commands: list[Command] = []
    errors: list[ParseError] = []
    narration: list[str] = []
    section: str | None = None
    header: dict[str, list[str]] = {"needs": [], "containers": []}
    # the title: the first line of a comment block that opens the file, set apart from the
    # first command by a blank line or a section (directly above a command it is narration)
    title: str | None = None
    opening = True
    for lineno, line in logical_lines(text):
        # blank and comment lines as the lexer reads them, so a line parse_line refuses is refused here
        # too (str.strip would drop a line of only U+00A0 that parse_line calls an unknown command)
        stripped = line.strip(BLANKS)
        if opening and narration and (not stripped or stripped.startswith("##")):
            title, opening = narration[0], False
        if not stripped:
            narration = []
            continue
        if stripped.startswith("##"):
            opening = False
            section = stripped.lstrip("#").strip() or None
            narration = []
            continue
        if stripped.startswith("#"):
            try:  # the header (before the first command) may say what the lab needs
                found = None if commands else _directive(stripped, Loc(source, lineno, 1), line)
            except ParseError as e:
                errors.append(e)
                continue
            if found is not None:
                header[found[0]] += found[1]
                continue
            narration.append(stripped[1:].strip())
            continue
        opening = False
        try:
            cmd = parse_line(line, Loc(source, lineno, 1))
        except ParseError as e:
            errors.append(e)
            narration = []
            continue
        if cmd is not None:
            cmd.narration = tuple(narration)
            cmd.section = section
            cmd.title = title
            commands.append(cmd)
        narration = []
    if errors:
        raise LabFileError(errors)
    needs = Needs(tuple(dict.fromkeys(header["needs"])), tuple(dict.fromkeys(header["containers"])))
    for cmd in commands:
        cmd.needs = needs
    return LabFile(source, commands, needs, title)


MAX_LAB_BYTES = 16 << 20  # far above any real lab; /dev/zero or a stray log must not eat the memory


def _too_big(name: str) -> NslabError:
    return NslabError(f"{name} is larger than {MAX_LAB_BYTES >> 20} MiB, the limit for a lab file: not read")


def read_bounded(stream: BinaryIO | int, name: str) -> bytes:
    """At most MAX_LAB_BYTES from a file descriptor or binary stream: one byte more is an error."""
    chunks: list[bytes] = []
    total = 0
    while total <= MAX_LAB_BYTES:
        want = min(1 << 20, MAX_LAB_BYTES + 1 - total)
        chunk = os.read(stream, want) if isinstance(stream, int) else stream.read(want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_LAB_BYTES:
        raise _too_big(name)
    return b"".join(chunks)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_lab_file(path: str) -> bytes:
    """A lab file's bytes: a regular file of at most MAX_LAB_BYTES, else a clear error.

    Opened non-blocking so a FIFO cannot hang the open; its type is checked on the open
    descriptor (no race with a rename) before a single byte is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        raise NslabError(f"cannot read {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((words for test, words in _KINDS if test(st.st_mode)), "not a regular file")
            raise NslabError(f"{path} is {what}: nslab reads lab files from regular files only (or - for stdin)")
        if st.st_size > MAX_LAB_BYTES:
            raise _too_big(path)
        os.set_blocking(fd, True)
        try:
            return read_bounded(fd, path)
        except OSError as e:
            raise NslabError(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NslabError(f"{name}: not UTF-8 text (byte {e.start})") from None


def parse_file(path: str | Path) -> LabFile:
    path = str(path)
    text = decode(read_lab_file(path), path)
    return topology_file(text, path) if path.endswith(TOPOLOGY_SUFFIXES) else parse_text(text, path)


TOPOLOGY_SUFFIXES = (".clab.yml", ".clab.yaml")  # containerlab's (nslab/lang/clab.py reads them)


def topology_file(text: str, path: str) -> LabFile:
    """A containerlab topology as the .lab it stands for: its lines, each at its YAML line."""
    from .clab import parse_topology

    lines, name, problems, needs = parse_topology(text, path)
    if problems:
        raise LabFileError(problems)
    section = f"containerlab topology {name}" if name else "containerlab topology"
    commands: list[Command] = []
    errors: list[ParseError] = []
    for line, loc, narration in lines:
        try:
            cmd = parse_line(line, loc)
        except ParseError as e:
            errors.append(e)
            continue
        if cmd is not None:
            cmd.narration, cmd.section, cmd.title, cmd.needs = tuple(narration), section, section, needs
            commands.append(cmd)
    if errors:
        raise LabFileError(errors)
    return LabFile(path, commands, needs, section)


def parse_stream(stream: BinaryIO, name: str = "-") -> LabFile:
    """`nslab run -`: standard input, bounded like a file."""
    try:
        data = read_bounded(stream, "standard input")
    except OSError as e:
        raise NslabError(f"cannot read standard input: {e.strerror}") from None
    return parse_text(decode(data, name), name)


def mistyped_commands(commands: list[Command]) -> list[ParseError]:
    """Lines whose first word looks like a mistyped command, not a namespace the file made.

    `vet ns1 ns2` parses as "run ns2 in namespace vet"; in a lab that starts empty (an
    isolated run) no such namespace can exist unless an earlier line makes it, so a word
    close to a command name is reported before anything runs.
    """
    import difflib

    from . import commands as table

    if any(c.name == "source" for c in commands):
        return []  # a sourced file may make namespaces this one cannot see
    made: set[str] = set()
    errors: list[ParseError] = []
    for cmd in commands:
        if cmd.name == "ns" and cmd.form.handler == "ns_add":
            made.update(cmd.values["name"])
        elif cmd.name == "ns" and cmd.form.handler == "ns_link":
            made.add(cmd.values.get("name") or cmd.values["target"])
        prefix = cmd.prefix
        # only `WORD PROG ARGS` lines: a goal like `ns1 expect ...` may name a namespace made later
        if cmd.name != "exec" or prefix is None or prefix in made or prefix == "host":
            continue
        near = difflib.get_close_matches(prefix, list(table.BY_NAME), n=2, cutoff=0.75)
        if near:
            errors.append(ParseError(f"no line before this one makes a namespace {prefix!r}: a mistyped command? "
                                     f"did you mean {' or '.join(near)}?", cmd.loc, cmd.text))
    return errors
