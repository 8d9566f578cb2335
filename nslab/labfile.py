"""`.lab` files: lines of the language, with narration and `## sections`.

The whole file is parsed before anything runs, so an error anywhere stops the
replay before the first step touches the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import Loc, NslabError, ParseError
from .parser import Command, parse_line


@dataclass
class LabFile:
    path: str
    commands: list[Command]


class LabFileError(NslabError):
    """Every parse error of a file, each with its FILE:LINE:COL, line and caret."""

    def __init__(self, errors: list[ParseError]) -> None:
        super().__init__(f"{len(errors)} error(s) in {errors[0].loc.source}")
        self.errors = errors


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with `\\` continuations joined."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    first = 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            first = n
        stripped = raw.rstrip()
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        if trailing % 2 == 1 and not stripped.lstrip().startswith("#"):
            buf.append(stripped[:-1] + " ")
            continue
        buf.append(raw)
        out.append((first, "".join(buf)))
        buf = []
    if buf:
        out.append((first, "".join(buf)))
    return out


def parse_text(text: str, source: str) -> LabFile:
    commands: list[Command] = []
    errors: list[ParseError] = []
    narration: list[str] = []
    section: str | None = None
    for lineno, line in logical_lines(text):
        stripped = line.strip()
        if not stripped:
            narration = []
            continue
        if stripped.startswith("##"):
            section = stripped.lstrip("#").strip() or None
            narration = []
            continue
        if stripped.startswith("#"):
            narration.append(stripped[1:].strip())
            continue
        try:
            cmd = parse_line(line, Loc(source, lineno, 1))
        except ParseError as e:
            errors.append(e)
            narration = []
            continue
        if cmd is not None:
            cmd.narration = tuple(narration)
            cmd.section = section
            commands.append(cmd)
        narration = []
    if errors:
        raise LabFileError(errors)
    return LabFile(source, commands)


def parse_file(path: str | Path) -> LabFile:
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise NslabError(f"cannot read {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NslabError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return parse_text(text, path)
