"""The labs and exercises shipped with nslab (nslab/labs), found by name as `nslab run` finds them.

Below the faces and the commands: the CLI (`nslab labs`, `nslab run NAME`) and the `source` /
`check` handlers both import it."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_dir() -> Path:
    return Path(__file__).parent.with_name("labs")


def _title(path: Path) -> str:
    """A lab's title: its first comment line."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def bundled_labs() -> list[tuple[str, str]]:
    """(name, title) of each bundled lab."""
    return [(path.stem, _title(path)) for path in sorted(bundled_dir().glob("*.lab"))]


def bundled_exercises() -> list[tuple[str, str]]:
    """(name, title) of each bundled exercise (`exercises/NAME`, as `nslab run` finds it); its
    solution is `exercises/NAME.solution`."""
    found = sorted((bundled_dir() / "exercises").glob("*.lab"))
    return [(f"exercises/{path.stem}", _title(path)) for path in found if not path.stem.endswith(".solution")]


def near_bundled(name: str) -> list[str]:
    """The bundled labs and exercises whose names are near NAME (a path's or a name's)."""
    import difflib

    names = [n for n, _ in bundled_labs() + bundled_exercises()]
    wanted = str(Path(name).with_suffix("")) if name.endswith(".lab") else name
    return (difflib.get_close_matches(wanted, names, n=2, cutoff=0.6)
            or difflib.get_close_matches(Path(name).stem, names, n=2, cutoff=0.6))


def resolve_lab(name: str) -> str:
    """A path that exists (or `-`) as it is; else a bundled lab or exercise of that name."""
    if name == "-" or os.path.exists(name):
        return name
    for candidate in (bundled_dir() / name, bundled_dir() / f"{name}.lab"):
        if candidate.exists():
            return str(candidate)
    return name
