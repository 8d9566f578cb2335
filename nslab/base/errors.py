"""Errors a user sees: each says what was wrong and where, never a traceback."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """Where a line came from: a file (or `repl`, `-`), a line and a column (1-based)."""

    source: str = "repl"
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}"


class NslabError(Exception):
    """Any error meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParseError(NslabError):
    """A line that does not fit the language; carries the line text and the caret column."""

    def __init__(self, message: str, loc: Loc, text: str = "") -> None:
        super().__init__(message)
        self.loc = loc
        self.text = text

    def caret(self) -> str:
        return " " * max(self.loc.col - 1, 0) + "^"

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


class CommandError(NslabError):
    """A command that was understood but cannot be done (bad reference, kernel refusal)."""


class GoneError(CommandError):
    """Undoing an object that is no longer there (deleted, renamed or moved outside the lab)."""


class NoInterfaceError(CommandError):
    """An interface missing where the line looked: it carries where, so the handlers' hint can say
    where the name is now, or which name was meant."""

    def __init__(self, message: str, ns: str, name: str) -> None:
        super().__init__(message)
        self.ns, self.name = ns, name


class InterfaceGoneError(GoneError, NoInterfaceError):
    """The op found no interface (an undo goes on past it, as past any GoneError)."""


class DriftedError(CommandError):
    """An object under a name the lab used is not the one the lab made: somebody re-created it."""


def kernel_words(exc: BaseException) -> str:
    """The kernel's error in words: `File exists`, not `NetlinkError(17)`."""
    code = getattr(exc, "code", None)
    if isinstance(code, int) and code > 0:
        import os

        return os.strerror(code)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def internal_error(e: Exception) -> str:
    """A bug's one-line report; with NSLAB_DEBUG=1 its traceback goes to stderr as well.
    (A kernel's or the OS's refusal is a CommandError by then: ops.Kernel.apply.)"""
    where = "set NSLAB_DEBUG=1 for the traceback"
    if os.environ.get("NSLAB_DEBUG") == "1":
        traceback.print_exception(e, file=sys.stderr)
        where = "traceback on stderr"
    return f"internal error: {type(e).__name__}: {e} ({where})"
