"""The one rule for "did you mean": the names a typo most likely meant (a command word, an
interface, a bundled lab).  Small on purpose: the parser needs it at start-up, the completer's
suggestion types (suggestions.py) only at the prompt."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The names a typo most likely meant, likeliest first."""
    return difflib.get_close_matches(word, sorted(set(names) - {word}), n=n, cutoff=0.5)


def did_you_mean(word: str, names: Iterable[str]) -> str:
    near = close(word, names)
    return f"; did you mean {' or '.join(near)}?" if near else ""
