"""`export netplan`, `export networkd`, `export clab`: the lab as production config per machine,
and as a containerlab topology (`export sh` is in journal_cmds.py)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..base.errors import CommandError
from ..base.results import Message
from ..base.words import count
from ..engine.context import Ctx
from .journal_cmds import _write

if TYPE_CHECKING:
    from ..engine.export_machines import Machine, Origins

SECRET = 0o600  # netplan warns about a file others can read; networkd's are no one else's either


def _machines(ctx: Ctx) -> "tuple[list[Machine], Origins, list[Message]]":
    from ..engine.export_machines import Origins, machines

    steps = ctx.lab.journal.steps
    found, left_out = machines(ctx.view, steps)
    return found, Origins(steps), [Message(f"left out: {why}", "warn") for why in left_out]


def _write_tree(root: str, files: dict[str, dict[str, str]]) -> int:
    """root/NS/NAME for each machine's files; the directories made as needed, and checked all
    before the first file is written, so a refusal leaves nothing half-written."""
    for ns in files:
        where = os.path.join(root, ns)
        if os.path.islink(where):  # planted: the files would land wherever it points
            raise CommandError(f"{where} is a symbolic link: not followed (remove it, or export to another directory)")
    written = 0
    for ns, named in files.items():
        where = os.path.join(root, ns)
        try:
            os.makedirs(where, exist_ok=True)
        except OSError as e:
            raise CommandError(f"cannot make {where}: {e.strerror}") from None
        for name, text in named.items():
            _write(os.path.join(where, name), text, SECRET)
            written += 1
    return written


def export_netplan(ctx: Ctx, dir: str) -> list[Message]:  # noqa: A002 - the form's DIR
    from ..engine.export_netplan import FILE, texts

    found, origins, warned = _machines(ctx)
    n = _write_tree(dir, {ns: {FILE: text} for ns, text in texts(found, origins).items()})
    return [*warned, Message(f"wrote {count(n, 'netplan file')} under {dir}/ (one per machine: {dir}/NS/{FILE}); "
                   f"on a machine, copy its file to /etc/netplan/", "ok")]


def export_networkd(ctx: Ctx, dir: str) -> list[Message]:  # noqa: A002 - the form's DIR
    from ..engine.export_networkd import files

    found, origins, warned = _machines(ctx)
    n = _write_tree(dir, files(found, origins))
    return [*warned, Message(f"wrote {count(n, 'systemd-networkd file')} under {dir}/ (one directory per machine); "
                   f"on a machine, copy its files to /etc/systemd/network/", "ok")]


def export_clab(ctx: Ctx, file: str, image: str | None = None) -> list[Message]:
    from ..engine.export_clab import DEFAULT_IMAGE, topology_text

    found, _, warned = _machines(ctx)
    _write(file, topology_text(found, image or DEFAULT_IMAGE, os.path.basename(file)))
    return [*warned, Message(f"wrote the containerlab topology {file} ({count(len(found), 'machine')})", "ok")]
