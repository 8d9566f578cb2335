"""nslab: an interactive shell for Linux network labs.

    from nslab import Lab
    with Lab() as lab:
        lab.run("ns add a b")
        lab.run("veth a b")
"""

from __future__ import annotations

from typing import Any

__all__ = ["Lab", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # lazy: `import nslab` stays cheap for the CLI's start-up
    if name == "Lab":
        from .lab import Lab

        return Lab
    raise AttributeError(name)
