"""The REPL driven through prompt_toolkit pipe input and DummyOutput, on a real lab."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
from conftest import ip_j, nslab_cli
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.validation import ValidationError

from nslab.base.environment import Environment, history_path
from nslab.faces.render import Renderer
from nslab.faces.repl import Repl, _validator, logical, prompt_text


@pytest.fixture
def repl(lab, tmp_path):
    with create_pipe_input() as inp:
        buf = io.StringIO()
        r = Repl(lab, Renderer(file=buf, color=False), pt_input=inp, pt_output=DummyOutput(),
                 history=tmp_path / "state" / "nslab" / "history")
        r.pipe, r.buf = inp, buf
        yield r


def send(repl, *chunks: str, pause: float = 0.15) -> None:
    """Type chunks from another thread, pausing so completion (which runs async) can finish."""
    def typing() -> None:
        for chunk in chunks:
            time.sleep(pause)
            repl.pipe.send_text(chunk)

    threading.Thread(target=typing, daemon=True).start()


def typed(repl, *chunks: str) -> str:
    """The line the prompt returns after the chunks are typed; it is then run, as the loop does."""
    send(repl, *chunks)
    text = repl.session.prompt(repl.prompt)
    repl.run_line(text)
    return text


def test_tab_completes_a_namespace_and_enter_changes_the_prompt(repl, lab):
    assert repl.prompt() == "nslab> "
    typed(repl, "ns add alpha\r")
    assert typed(repl, "enter al", "\t", "\r") == "enter alpha "  # one match: inserted with its space
    assert lab.context == "alpha"
    assert repl.prompt() == "nslab(alpha)> "
    typed(repl, "leave\r")
    assert repl.prompt() == "nslab> "


def test_completion_sees_the_lab_after_a_change_without_asking(repl, lab):
    typed(repl, "ns add r1\r")
    typed(repl, "veth r1:eth0 host:up0\r")
    typed(repl, "enter r1\r")
    # in r1, a bare interface completes from r1
    assert typed(repl, "link et", "\t", "up\r") == "link eth0 up"  # Tab put the space
    assert ip_j(lab, "r1", "link", "show", "eth0")[0]["flags"].count("UP") == 1
    # a namespace's interfaces after NS:
    assert typed(repl, "link host:u", "\t", "up\r") == "link host:up0 up"


def test_a_line_prefix_runs_in_that_namespace(repl, lab):
    typed(repl, "ns add n1\r")
    typed(repl, "n1 link lo up\r")
    assert "UP" in ip_j(lab, "n1", "link", "show", "lo")[0]["flags"]
    assert lab.context == "host"


def test_the_validator_marks_the_bad_word_but_enter_still_submits(repl):
    v = _validator()
    with pytest.raises(ValidationError) as e:
        v.validate(Document("link veth0 sideways"))
    assert e.value.cursor_position == len("link veth0 ")
    assert "col 12" in e.value.message and "up" in e.value.message
    with pytest.raises(ValidationError) as e:
        v.validate(Document("ns add bad/name"))
    assert e.value.cursor_position == len("ns add ")
    v.validate(Document("ns add fine"))
    v.validate(Document("ent"))        # still typing `enter`: not marked yet
    v.validate(Document("link eth0 do"))  # still typing `down`
    with pytest.raises(ValidationError):
        v.validate(Document("link eth0 dx"))
    v.validate(Document("exit"))
    # Enter submits the line anyway; the session then says what is wrong, with a caret
    assert typed(repl, "link veth0 sideways\r") == "link veth0 sideways"
    out = repl.buf.getvalue()
    assert "error:" in out and "^" in out


def test_backslash_continues_the_line(repl, lab):
    text = typed(repl, "ns add \\\r", "c1 c2\r")
    assert text == "ns add \\\nc1 c2"
    assert logical(text) == "ns add  c1 c2"
    assert lab.nss.names() == ["c1", "c2"]


def test_history_is_kept_in_the_file(repl, tmp_path):
    typed(repl, "ns add h1\r")
    typed(repl, "ns ls\r")
    hist = (tmp_path / "state" / "nslab" / "history").read_text()
    assert "+ns add h1" in hist and "+ns ls" in hist


def test_history_path_follows_xdg(tmp_path):
    assert history_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "nslab" / "history"
    assert history_path({"HOME": str(tmp_path)}) == tmp_path / ".local" / "state" / "nslab" / "history"
    assert Environment.of({"XDG_STATE_HOME": str(tmp_path)}).history_path == tmp_path / "nslab" / "history"


def test_toolbar_counts_the_lab_and_the_last_step(repl):
    typed(repl, "ns add a b\r")
    typed(repl, "veth a b\r")
    typed(repl, "bridge add br0\r")
    bar = repl.toolbar()
    assert "2 namespaces" in bar and "3 links" in bar and "1 bridge " in bar
    assert "bridge add br0" in bar and "ok" in bar


def test_leaving_a_lab_that_holds_something_asks_once(repl, lab):
    assert repl.may_leave(False)  # an empty lab: no question
    typed(repl, "ns add keep\r")
    send(repl, "n\r")
    assert repl.may_leave(False) is False
    send(repl, "y\r")
    assert repl.may_leave(False) is True
    assert repl.may_leave(True) is True  # exit! does not ask


def test_the_loop_leaves_on_exit_bang_and_on_ctrl_d(repl):
    typed(repl, "ns add z\r")
    send(repl, "exit!\r")
    assert repl.loop() == 0
    send(repl, "\x04", "y\r")  # Ctrl-D, then yes to the question
    assert repl.loop() == 0


def test_prompt_marks_host_mode():
    class Fake:
        host_mode, context = True, "ns1"

    assert prompt_text(Fake()) == "nslab[HOST](ns1)> "
    Fake.host_mode = False
    assert prompt_text(Fake(), attached=True) == "nslab[attached](ns1)> "


def test_help_and_unknown_commands(repl):
    typed(repl, "help route\r")
    out = repl.buf.getvalue()
    assert "route add DEST via GW [dev DEV]" in out and "ip route add" in out and "example:" in out
    typed(repl, "help rout\r")
    assert "did you mean route" in repl.buf.getvalue()


def test_json_flag_gives_only_json_on_stdout():
    r = nslab_cli("--json", "run", "-", input="ns add a b\nveth a b\nlink ls a\naddr ls a\n")
    assert r.returncode == 0, r.stderr
    docs = [json.loads(d) for d in re.split(r"(?m)^(?=\{)", r.stdout) if d.strip()]
    assert [list(d) for d in docs] == [["links"], ["addresses"]]
    assert {row["name"] for row in docs[0]["links"]} == {"lo", "eth0"}
    assert "ok:" in r.stderr


def test_no_colour_when_not_a_tty_or_no_color():
    r = nslab_cli("run", "-", input="ns add a\nns ls\nlink bogus\n", env={"NO_COLOR": "1"})
    assert "\x1b[" not in r.stdout + r.stderr
    assert "error:" in r.stdout + r.stderr


def test_the_lexer_is_registered_for_pygmentize(tmp_path):
    """The package's metadata, as setuptools writes it from setup.cfg, makes pygments find the lexer by
    name: the entry point an install registers, read by importlib.metadata in a fresh interpreter."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "nslab", src / "nslab", ignore=shutil.ignore_patterns("__pycache__"))
    made = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info"],
                          cwd=src, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    probe = ("import sys, pygments.lexers as L; x = L.get_lexer_by_name('nslab'); "
             "print(type(x).__name__, sys.modules[type(x).__module__].__file__)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": str(src)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["NslabLexer", str(src / "nslab" / "faces" / "highlight.py")]


def test_nothing_heavy_is_imported_before_the_first_prompt():
    """pyroute2 and docker come after the prompt is drawn (the lab opens on a thread then)."""
    import subprocess
    import sys

    from conftest import ROOT
    code = (
        "import sys\n"
        "from nslab.kernel import isolate; isolate.enter()\n"
        "import nslab.faces.cli, nslab.faces.repl\n"
        "from prompt_toolkit.input import create_pipe_input\n"
        "from prompt_toolkit.output import DummyOutput\n"
        "with create_pipe_input() as i:\n"
        "    r = nslab.faces.repl.Repl(lambda: None, lambda: None, pt_input=i, pt_output=DummyOutput())\n"
        "    print(sorted(m for m in ('pyroute2', 'docker', 'rich', 'nslab.engine.session') if m in sys.modules))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "NSLAB_ISOLATED"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
