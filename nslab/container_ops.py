"""Ops for containers and Open vSwitch (`ns link`, `pipework`): apply, iproute2 lines, words.

Kept apart from nslab/ops.py, which falls back to these tables for op kinds it
does not know.  Each APPLY function takes (kernel, op, inverse) and returns the
ops that undo it, like the Kernel's own methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Op = dict[str, Any]

APPLY: dict[str, Callable[[Any, Op, bool], list[Op]]] = {}
IP_LINES: dict[str, Callable[[Op], list[str]]] = {}
DESCRIBE: dict[str, Callable[[Op], str]] = {}
