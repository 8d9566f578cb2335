"""`nslab completion bash`: bash itself (the oracle) completes bundled lab names and files after
`nslab run` and `nslab check`, and the subcommands after `nslab`."""

from __future__ import annotations

import subprocess
import sys

from conftest import nslab_cli


def complete(words: list[str], cwd: str) -> list[str]:
    script = nslab_cli("completion", "bash").stdout
    line = " ".join(f"'{w}'" for w in words)
    probe = f"""nslab() {{ {sys.executable} -m nslab "$@"; }}
{script}
COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}
_nslab
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, cwd=cwd, check=True)
    return [w for w in out.stdout.splitlines() if w]


def test_bash_completes_bundled_labs_and_exercises_after_run_and_check(tmp_path):
    (tmp_path / "01-mine.lab").write_text("ns add a\n")
    got = complete(["nslab", "run", "01"], str(tmp_path))
    assert "01-netns-basics" in got and "01-mine.lab" in got, got
    got = complete(["nslab", "--host", "check", "exercises/02"], str(tmp_path))
    assert got == ["exercises/02-bridge-three-namespaces"], got
    assert complete(["nslab", "--lab", "x", "run", "05-"], str(tmp_path)) == ["05-bridge-uplink"]


def test_bash_completes_the_subcommands(tmp_path):
    assert complete(["nslab", "r"], str(tmp_path)) == ["run", "reset", "repl"]
    assert complete(["nslab", "run", "-"], str(tmp_path)) == []  # an option: nothing made up
