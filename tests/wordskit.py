"""nslab run by an ordinary user (nobody, uid 65534, no capabilities: `setpriv --clear-groups`), for
the words tests.  The interpreter's packages are under /root, which nobody cannot read: the ones
nslab imports are copied to a directory nobody can, once per test process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import ROOT

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
PACKAGES = ("rich", "markdown_it", "mdurl", "pygments", "prompt_toolkit", "wcwidth", "docker", "requests",
            "urllib3", "idna", "certifi", "charset_normalizer")
_SITE: list[Path] = []


def copy_packages(d: Path, names: tuple[str, ...]) -> None:
    """The installed packages NAMES, copied into D (a site another user can read)."""
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin in (None, "built-in"):
            continue
        src = Path(spec.origin)
        if src.name == "__init__.py":
            shutil.copytree(src.parent, d / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, d / src.name)


def site() -> Path:
    if not _SITE:
        d = Path(tempfile.mkdtemp(prefix="nslab-words-"))
        copy_packages(d, PACKAGES)
        subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
        _SITE.append(d)
    return _SITE[0]


def remove_site() -> None:
    while _SITE:
        shutil.rmtree(_SITE.pop(), ignore_errors=True)


def python() -> str:
    return shutil.which("python3", path="/usr/bin:/bin") or "python3"


def nslab_as_nobody(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`nslab ARGS` as nobody; HOME (a directory nobody can reach) holds its state."""
    os.chmod(home, 0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{ROOT}:{site()}", "HOME": str(home),
           "PYTHONDONTWRITEBYTECODE": "1", "NSLAB_RUNTIME_DIR": str(home / "rt"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([*NOBODY, python(), "-m", "nslab", "--no-color", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
