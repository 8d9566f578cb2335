"""The labs and exercises shipped with nslab (nslab/labs), found by name as `nslab run` finds them.

Below the faces and the commands: the CLI (`nslab labs`, `nslab run NAME`) and the `source` /
`check` handlers both import it."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_dir() -> Path:
    return Path(__file__).parent.with_name("labs")


def bundled_labs() -> list[tuple[str, str]]:
    """(name, title) of each bundled lab; the title is its first comment line."""
    out = []
    for path in sorted(bundled_dir().glob("*.lab")):
        title = ""
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                break
        out.append((path.stem, title))
    return out


def resolve_lab(name: str) -> str:
    """A path that exists (or `-`) as it is; else a bundled lab or exercise of that name."""
    if name == "-" or os.path.exists(name):
        return name
    for candidate in (bundled_dir() / name, bundled_dir() / f"{name}.lab"):
        if candidate.exists():
            return str(candidate)
    return name
