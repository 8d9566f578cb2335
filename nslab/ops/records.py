"""The on-disk records of a host lab (journal and op log): format, lenient reading, private files.

Each file starts with a header line `{"nslab": KIND, "format": N}`; a file without
one is format 1 (before headers).  Reading never stops at a bad line: each is
reported with its file and line number, skipped, and reading goes on.  A file of a
newer format than this nslab knows is read for nothing and never written.

The files hold `exec` arguments (passwords, say): they are created 0600, opened
with O_NOFOLLOW so a planted symlink is refused, and rewritten through a temporary
file in the same directory and a rename.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from ..base.errors import NslabError
from .opkinds import KINDS

FORMAT = 2  # the newest record format this nslab reads and the one it writes
Record = dict[str, Any]


class RecordError(NslabError):
    """A record file that cannot be used at all (a symlink, a newer format)."""


def header(kind: str) -> Record:
    return {"nslab": kind, "format": FORMAT}


def newer_message(path: str, version: object) -> str:
    return (f"{path} is record format {version}, written by a newer nslab (this one knows format {FORMAT}): "
            "refusing to change this lab; use that nslab")


def op_problem(op: object) -> str | None:
    """Why `op` cannot be acted on, or None when it can."""
    if not isinstance(op, dict):
        return f"an op that is a JSON {json_kind(op)}, not an object"
    kind = op.get("op")
    if not isinstance(kind, str):
        return "an op without its 'op' name"
    found = KINDS.get(kind)
    if found is None:
        return f"unknown op {kind!r} (from another nslab version?)"
    missing = [f for f in found.fields if f not in op]  # what undo and clean need (the op registry)
    if missing:
        return f"{kind} op missing field {', '.join(repr(f) for f in missing)}"
    if kind == "in_ctr":
        return op_problem(op["inner"])
    return None


def ops_problem(ops: object) -> str | None:
    if not isinstance(ops, list):
        return f"ops that are a JSON {json_kind(ops)}, not a list"
    for k, op in enumerate(ops, 1):
        why = op_problem(op)
        if why:
            return f"op {k}: {why}"
    return None


def json_kind(value: object) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def open_nofollow(path: str, flags: int) -> int:
    """os.open that refuses a symlink at `path` (and makes files 0600)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RecordError(f"{path} is a symlink (planted?): refusing to follow it; remove it") from None
        raise


def read(path: str, kind: str, problems: list[str]) -> tuple[int, list[tuple[int, Record]]]:
    """(format, [(line number, record)]) of a record file; every bad line goes to `problems`."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return FORMAT, []
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    version, out = 1, []  # type: tuple[int, list[tuple[int, Record]]]
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{where}: not UTF-8 text; skipped")
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError:
            cut = number == len(lines)  # no newline after it: the write was cut short
            problems.append(f"{where}: " + ("cut short (nslab stopped while writing it); skipped" if cut else "not JSON; skipped"))
            continue
        if not isinstance(rec, dict):
            problems.append(f"{where}: a JSON {json_kind(rec)}, not an object; skipped")
            continue
        if "format" in rec and rec.get("nslab") == kind:
            if not out and isinstance(rec["format"], int):
                version = rec["format"]
                if version > FORMAT:
                    return version, []  # not ours to interpret
            else:
                problems.append(f"{where}: a misplaced header; skipped")
            continue
        out.append((number, rec))
    return version, out


def version_of(path: str, kind: str) -> int:
    """The format of a record file from its first line alone (cheap, for a big file)."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return FORMAT
    with os.fdopen(fd, "rb") as f:
        first = f.readline(4096)
    try:
        rec = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return 1
    if isinstance(rec, dict) and rec.get("nslab") == kind and isinstance(rec.get("format"), int):
        return int(rec["format"])
    return 1


def open_append(path: str, kind: str) -> int:
    """An O_APPEND fd on a private record file; a new (empty) file gets its header first."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    if os.fstat(fd).st_size == 0:
        os.write(fd, (json.dumps(header(kind)) + "\n").encode())
    return fd


def rewrite(path: str, kind: str, records: Iterable[Record]) -> None:
    """Replace the file with header + records, atomically (a temp file and a rename, same directory)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(header(kind)) + "\n")
            for rec in records:
                f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # rename replaces a symlink at `path`; it never writes through one
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
