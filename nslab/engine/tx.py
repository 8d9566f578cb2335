"""A step's ops: applied one by one with their records, undone in reverse when the step fails."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..base.errors import NslabError, internal_error
from ..ops.apply import Kernel, Op
from .hostlog import HostLog


class Tx:
    """The ops of one step.  On failure, what was applied is undone in reverse."""

    def __init__(self, kernel: Kernel, log: HostLog | None = None, step: int = 0) -> None:
        self.kernel = kernel
        self.log = log
        self.step = step
        self.ops: list[Op] = []
        self.inverse: list[list[Op]] = []

    def apply(self, op: Op) -> None:
        # Ctrl-C waits until the op and its record are both done (or both not):
        # an interrupt between the two would leave an object the rollback cannot see
        with no_sigint():
            if self.log:
                self.log.intent(self.step, op)
            try:
                undo = self.kernel.apply(op)
            except BaseException:
                if self.log:
                    self.log.failed(self.step)
                raise
            if self.log:
                self.log.done(self.step, undo)
            self.ops.append(op)
            self.inverse.append(undo)

    def rollback(self) -> list[str]:
        with no_sigint():
            return self._rollback()

    def _rollback(self) -> list[str]:
        problems: list[str] = []
        for undo in reversed(self.inverse):
            for op in undo:
                try:
                    self.kernel.apply(op, inverse=False)
                except NslabError as e:
                    problems.append(e.message)
                except Exception as e:  # a bug in one inverse must not stop the others
                    problems.append(internal_error(e))
        self.kernel.settle()
        return problems

    def undo_ops(self) -> list[Op]:
        return [op for undo in reversed(self.inverse) for op in undo]


@contextmanager
def no_sigint() -> Iterator[None]:
    """Hold SIGINT back on the main thread for the body; it is delivered right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class PlanTx(Tx):
    """A step's ops collected, not applied: what a command would do to the lab as it stands."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)

    def apply(self, op: Op) -> None:
        self.ops.append(op)
