"""A module imported when one of its names is first used: what a plain lab never touches (the
Docker client, shaping's qdisc words, the bridge and neighbour readers) stays off its start-up.
Import the real module under TYPE_CHECKING beside it, so the type checker and the layers
contract still see the import."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class Lazy:
    def __init__(self, module: str) -> None:
        self._module = module
        self._loaded: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        if self._loaded is None:
            self._loaded = importlib.import_module(self._module)
        return getattr(self._loaded, name)
