"""The library's front door: nslab's session bound to nslab's commands.

    from nslab import Lab
    with Lab() as lab:
        lab.run("ns add a b")

The engine (nslab/engine/session.py, nslab/engine/dryrun.py) runs handlers it is given; this module,
above both the engine and the commands, gives it nslab's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .engine.session import Session
from .handlers import HANDLERS

if TYPE_CHECKING:
    from .engine.dryrun import Problem


class Lab(Session):
    __doc__ = Session.__doc__
    exercise: Any = None  # the exercise `nslab run -i` opened here (nslab/handlers/goals.py's Opened)

    def __init__(self, **options: Any) -> None:
        super().__init__(handlers=HANDLERS, **options)


def dry_run(commands: Any) -> tuple[list[Problem], int]:
    """`--dry-run`'s judgement of commands: the real handlers over the lab model (imported when asked)."""
    from .engine import dryrun

    return dryrun.dry_run(commands, HANDLERS)


def dry_run_report(commands: list[Any], out: Callable[[Any], None]) -> int:
    from .engine import dryrun

    return dryrun.report(commands, out, HANDLERS)
