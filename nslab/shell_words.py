"""Words and comments for the bash scripts `export sh` writes.

Names in a lab may hold anything the kernel accepts in a name (`$(id)`, `a;b`, a
backquote, a leading `-`), so every word of a script line is quoted, and the few
words bash must expand (`$$`, a container's PID found through docker) are marked
as such by their type, never recognised by their text: an interface really named
`$$` is quoted like any other.
"""

from __future__ import annotations

import shlex


class Expand(str):
    """A word bash must expand when the script runs: written as it is, never quoted."""


# The script's own network namespace (moves back to the host, a veth's far end there).
SCRIPT_NS = Expand("$$")


def command(*words: object) -> str:
    """One shell command line: each word quoted (a plain name stays as it is) except `Expand` words."""
    return " ".join(w if isinstance(w, Expand) else quote(str(w)) for w in words)


def quote(word: str) -> str:
    """shlex.quote, except that a word with control characters (an ESC in an `exec` argument) is
    written in bash's $'...' with them escaped, so the script stays plain text on a terminal."""
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for c in word:
        if c in "\\'":
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            out += [f"\\x{b:02x}" for b in c.encode()]
    return "$'" + "".join(out) + "'"


def comment_text(text: str) -> str:
    """Text made fit for one `#` comment line: control characters, line breaks included, escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
