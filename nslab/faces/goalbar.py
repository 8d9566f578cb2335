"""The REPL toolbar's `goals K/N` when an exercise is open (`nslab run -i EXERCISE`).

The figure is the goals' last verdicts: `goals`, `hint` and `check` judge them in full, and
after a line that changed the lab `after_step` judges them again with quick probes (one echo
each, sent together), on the REPL's own thread: the lab's netlink sockets are not shared."""

from __future__ import annotations

from typing import Any

from ..base.errors import NslabError


def goals_segment(lab: Any) -> list[str]:
    """`["goals 2/7"]` for the toolbar, or nothing when no exercise is open (or not judged yet)."""
    ex = getattr(lab, "exercise", None)  # goals.opened, without importing the handlers before the prompt
    if ex is None or not ex.met:
        return []
    met, n = ex.tally
    return [f"goals {met}/{n}" + (" ✓" if met == n else "")]


def after_step(lab: Any) -> None:
    """Judge the open exercise's goals again, quickly, after a line that changed the lab."""
    from ..engine.tx import PlanTx
    from ..handlers.goals import opened, regrade
    from ..kernel.netns import HOST

    ex = opened(lab)
    if ex is None or not ex.exercise.goals:
        return
    lab.nss.new_step()  # read the lab as it is now
    ctx = lab.ctx(HOST, ex.exercise.goals[0].cmd, PlanTx(lab.kernel))  # goals only read: nothing is applied
    try:
        regrade(ctx, ex, quick=True)
    except (NslabError, OSError, KeyboardInterrupt):
        pass  # the figure stays as it was; `goals` says what is wrong
