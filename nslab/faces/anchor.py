"""Imports that keep coming from this mount namespace after the process joins another one.

`nslab attach` enters a lab's mount namespace and may import more of nslab (and rich,
prompt_toolkit) afterwards; what sits at those paths over there is not necessarily what
was installed here.
"""

from __future__ import annotations

import importlib
import os
import sys


def anchor_imports() -> None:
    """Python code imported after joining must come from where it came before, not from the
    lab's mount namespace: each import path (and each imported package's __path__) is pointed
    at /proc/self/fd/N of a descriptor opened now, which keeps naming the same directory
    whatever is mounted over that path in the other namespace.  An empty entry (the current
    directory, which attach re-enters by name in the other namespace) is dropped."""
    anchors: dict[str, str] = {}
    packages = [m.__path__ for name, m in list(sys.modules.items()) if "." not in name and hasattr(m, "__path__")]
    tops = [p for path in packages if isinstance(path, list) for p in path]
    for entry in [*sys.path, *tops]:
        if not entry:
            continue
        real = os.path.abspath(entry)
        if real in anchors:
            continue
        try:
            anchors[real] = f"/proc/self/fd/{os.open(real, os.O_RDONLY | os.O_CLOEXEC)}"  # kept for the process's life
        except OSError:
            continue  # an entry that does not exist (a missing python311.zip) cannot be imported from

    def moved(p: str) -> str:
        real = os.path.abspath(p)
        for prefix, anchor in sorted(anchors.items(), key=lambda kv: -len(kv[0])):
            if real == prefix or real.startswith(prefix + os.sep):
                return anchor + real[len(prefix):]
        return p

    sys.path[:] = [anchors[os.path.abspath(e)] for e in sys.path if e and os.path.abspath(e) in anchors]
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [moved(p) for p in path]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
