"""The interactive shell: a prompt_toolkit prompt over the same parser and session.

Each line goes text -> parser -> session -> events -> renderer, exactly as a `.lab` line does.
Completion and the toolbar read an `Inventory` snapshot re-read after commands that change the
lab, never on a keystroke."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base.environment import Environment
from ..base.errors import Loc, ParseError
from ..base.results import Interactive
from ..base.words import count
from ..kernel import isolate
from ..kernel.netns import HOST
from ..lang.lexer import continues as _continues
from ..lang.lexer import join_continued as logical  # a typed line's `\\` continuations, joined as a .lab file's
from ..lang.suggestions import literal_words
from . import attach
from .completion import Inventory, LabCompleter, fits, read_containers, read_inventory

LEAVE = ("exit", "quit")
LEAVE_NOW = "exit!"
# commands that may change the lab without ops of their own (programs, shells, journal replays)
_REFRESH_AFTER = frozenset({"exec", "shell", "source", "undo", "reset", "sysctl"})

def _private_history(hist: Path) -> None:
    """The history holds every line typed (exec arguments, passwords): its directory 0700, the
    file 0600, made before prompt_toolkit appends to it; a symlink planted there is refused."""
    hist.parent.parent.mkdir(parents=True, exist_ok=True)
    hist.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(hist, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a history an older nslab left readable by others
    finally:
        os.close(fd)


def prompt_text(lab: Any, attached: bool = False) -> str:
    """`nslab(ns1)> `; host mode and attached sessions carry a mark."""
    mark = "[HOST]" if lab.host_mode else ("[attached]" if attached else "")
    ctx = "" if lab.context == HOST else f"({lab.context})"
    return f"nslab{mark}{ctx}> "


def run_shell(lab: Any, event: Interactive, environment: Environment) -> int:
    """`shell NS`: an interactive $SHELL on this terminal inside the namespace; back to nslab on exit."""
    from ..kernel import sysns

    fd = lab.nss.get(event.ns).fd
    argv, rc = attach.shell_argv(event.argv[0] if event.argv else environment.shell, event.ns)
    env = dict(environment.environ, NSLAB_NS=event.ns, PS1=f"(nslab:{event.ns}) \\u@\\h:\\w\\$ ")

    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the shell's own Ctrl-C
        sysns.setns(fd)

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the shell must not end nslab
    try:
        return subprocess.call(argv, preexec_fn=child, pass_fds=(fd,), env=env)
    except OSError as e:
        print(f"nslab: cannot start {argv[0]}: {e.strerror}", file=environment.stderr)
        return 127
    finally:
        signal.signal(signal.SIGINT, old)
        if rc:
            os.unlink(rc)


def _holds_something(inv: Inventory) -> bool:
    ns, links, _ = inv.counts
    own = [x for x in inv.links.get(HOST, ()) if x.kind != "loopback"]
    return ns > 0 or bool(own)


class _Pending:
    """What the prompt shows while the lab is still being opened: an empty lab at `host`."""

    context = HOST
    last = None

    def __init__(self, host_mode: bool) -> None:
        self.host_mode = host_mode


class Repl:
    """One REPL over one lab.  `pt_input`/`pt_output` (or `env`'s) let tests drive it with a pipe and
    DummyOutput; `env` gives the streams and the child environment (the process's when None).

    `lab` may be a callable that opens the lab: then the prompt is drawn first and the
    lab (pyroute2, the kernel work, the first inventory) is made on a thread meanwhile;
    the first line typed waits for it.  Nothing else touches the lab until then.
    `out` may likewise be a callable making the renderer on first use.
    """

    def __init__(self, lab: Any, out: Any, *, pt_input: Any = None, pt_output: Any = None,
                 history: Path | None = None, attached: bool = False, host_mode: bool = False,
                 env: Environment | None = None) -> None:
        self.env = env or Environment.from_process()
        self._out = out
        self.attached = attached
        self._lab: Any = None
        self._opening: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._pending = _Pending(host_mode)
        self.inv = Inventory()
        self.containers: list[tuple[str, str]] = []
        self.io = {"input": pt_input or self.env.prompt_input, "output": pt_output or self.env.prompt_output}
        self.session = self._session(history if history is not None else self.env.history_path)
        self._opener: Any = None
        if callable(lab):
            # open the lab once the first prompt is drawn, so the two do not share the CPU
            self._opener = lab
            self.session.app.after_render += self._start_opening
        else:
            self._lab = lab
            self.refresh()
            self._load_containers()

    def _start_opening(self, _: Any = None) -> None:
        if self._opener is not None:
            opener, self._opener = self._opener, None
            self._opening = threading.Thread(target=self._open, args=(opener,), name="nslab-open", daemon=True)
            self._opening.start()

    def _open(self, opener: Any) -> None:
        try:
            lab = opener()
            inv = read_inventory(lab)
            inv.containers = self.containers
            self.inv, self._lab = inv, lab
        except BaseException as e:  # handed to the main thread at the first line
            self._failed = e
        self._load_containers()  # after the lab: the Docker SDK costs 0.15 s to import
        app = self.session.app
        if app.is_running:
            app.invalidate()  # redraw the toolbar with the lab's figures

    @property
    def lab(self) -> Any:
        """The lab; the first use waits until it is open."""
        self._start_opening()
        if self._opening is not None:
            self._opening.join()
            self._opening = None
            if self._failed is not None:
                raise self._failed
        return self._lab

    def _ready(self) -> bool:
        try:
            self.lab  # noqa: B018 - waits for the lab opened on the thread
            return True
        except Exception as e:
            print(f"nslab: cannot open the lab: {getattr(e, 'message', e)}", file=self.env.stderr)
            return False

    def _shown(self) -> Any:
        """The lab for the prompt and toolbar, without waiting for it."""
        return self._lab if self._lab is not None else self._pending

    @property
    def out(self) -> Any:
        if not hasattr(self._out, "render"):
            self._out = self._out()  # made on first use: rich is not needed to draw the prompt
        return self._out

    # -- the lab snapshot ------------------------------------------------
    def refresh(self) -> None:
        inv = read_inventory(self.lab)  # on this thread: the lab's netlink sockets are not shared
        inv.containers = self.containers
        self.inv = inv  # one assignment: the completer sees the old or the new snapshot, whole

    def _load_containers(self) -> None:
        def load() -> None:
            self.containers = read_containers()
            self.inv.containers = self.containers

        threading.Thread(target=load, name="nslab-containers", daemon=True).start()

    def snapshot(self) -> tuple[str, Inventory]:
        return self._shown().context, self.inv

    # -- prompt_toolkit --------------------------------------------------
    def _session(self, hist: Path | None) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.lexers import PygmentsLexer

        from .highlight import NslabLexer

        kb = KeyBindings()

        @kb.add("enter")
        def _enter(event: Any) -> None:
            buf = event.current_buffer
            if _continues(buf.document.text_before_cursor) and buf.document.is_cursor_at_the_end:
                buf.insert_text("\n")  # `\` at the end: the line goes on
                return
            # accept even when the validator marks the line: the session says what is wrong
            if buf.complete_state:
                buf.complete_state = None
            if buf.accept_handler is not None:
                buf.accept_handler(buf)
            buf.append_to_history()

        try:
            if hist is None:
                raise FileNotFoundError  # no history file: this session's lines only
            _private_history(hist)
            history: Any = FileHistory(str(hist))
        except OSError:
            history = InMemoryHistory()
        return PromptSession(
            completer=LabCompleter(self.snapshot),
            complete_while_typing=True,
            validator=_validator(),
            validate_while_typing=True,
            lexer=PygmentsLexer(NslabLexer),
            history=history,
            enable_history_search=False,  # Ctrl-R searches; Up walks history
            bottom_toolbar=self.toolbar,
            key_bindings=kb,
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
            style=_style(),
            **{k: v for k, v in self.io.items() if v is not None},
        )

    def prompt(self) -> str:
        return prompt_text(self._shown(), self.attached)

    def toolbar(self) -> Any:
        ns, links, bridges = self.inv.counts
        shown = self._shown()
        mode = "host" if shown.host_mode else ("attached" if self.attached else "isolated")
        parts = [f" {mode} lab", f"{ns} namespaces", f"{links} links", f"{bridges} bridges"]
        last = shown.last
        if last is not None and last.outcome != "running":
            parts.append(f"last: {last.text[:40]} — {last.outcome} in {last.duration * 1000:.1f} ms")
        return " · ".join(parts) + "   (Tab completes, Ctrl-R searches, Ctrl-D leaves)"

    def ask(self, question: str) -> bool:
        from prompt_toolkit import PromptSession

        try:
            answer: str = PromptSession(**{k: v for k, v in self.io.items() if v is not None}).prompt(question)
        except EOFError:
            return True  # a second Ctrl-D means it
        except KeyboardInterrupt:
            return False
        return answer.strip().lower() in ("y", "yes")

    # -- running lines ---------------------------------------------------
    def may_leave(self, force: bool) -> bool:
        if force or self.lab.host_mode or self.attached or not _holds_something(self.inv):
            return True
        ns, links, _ = self.inv.counts
        return self.ask(f"the lab ({count(ns, 'namespace')}, {count(links, 'link')}) goes away when nslab exits (save FILE keeps a .lab of it); leave? [y/N] ")

    def run_line(self, text: str) -> None:
        line = logical(text)
        events = self.lab.stream_line(line)
        try:
            for event in events:
                if isinstance(event, Interactive):
                    run_shell(self.lab, event, self.env)
                self.out(event)
        except KeyboardInterrupt:
            events.close()
            self.out.line("interrupted", "yellow")
        step = self.lab.last
        if step is not None and step.text == line.strip() and (step.ops or step.command in _REFRESH_AFTER):
            self.refresh()

    def loop(self) -> int:
        while True:
            try:
                text = self.session.prompt(self.prompt)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line, as in a shell
            except EOFError:
                if self.may_leave(False):
                    break
                continue
            word = text.strip()
            if word in LEAVE or word == LEAVE_NOW:
                if self.may_leave(word == LEAVE_NOW):
                    break
                continue
            if word:
                if not self._ready():
                    return 1
                self.run_line(text)
        return 0


def _validator() -> Any:
    from prompt_toolkit.validation import ValidationError, Validator

    from ..lang.parser import parse_line

    class LineValidator(Validator):
        """Marks a line that will not parse (message and caret column); Enter still submits it."""

        def validate(self, document: Any) -> None:
            text = logical(document.text)
            if text.strip() in (*LEAVE, LEAVE_NOW):
                return
            try:
                parse_line(text, Loc("repl", 1, 1))
            except ParseError as e:
                col = min(max(e.loc.col - 1, 0), len(document.text))
                if document.is_cursor_at_the_end and _still_typing(text, col):
                    return
                raise ValidationError(cursor_position=col, message=f"col {e.loc.col}: {e.message}") from None

    return LineValidator()


def _still_typing(text: str, col: int) -> bool:
    """The bad word is the one being typed and it is the start of a word that fits (`e` of `enter`)."""
    f = fits(text)
    if not f.word or col < f.start:
        return False
    return any(w.startswith(f.word) and w != f.word for w in literal_words(f))


def _style() -> Any:
    from prompt_toolkit.styles import Style

    return Style.from_dict({
        "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
        "validation-toolbar": "bg:#5f0000 #ffffff",
        "completion-menu.meta.completion": "bg:#444444 #bbbbbb",
    })


def run_repl(env: Environment, open_lab: Callable[[], Any], make_out: Callable[[], Any], lab: Any = None,
             host_mode: bool = False, attached: bool = False) -> int:
    """The REPL on LAB, or on the lab OPEN_LAB makes (on a thread, once the prompt is drawn);
    MAKE_OUT makes the renderer.  The face above (cli) decides both; the REPL never imports it."""
    if lab is None and not host_mode:
        isolate.enter()  # while the process is single-threaded: the lab then opens on a thread
    runtime = None if host_mode or attached else attach.publish_dir(env.runtime_dir, env.stderr)

    def opened() -> Any:
        new = open_lab()
        if runtime is not None and not new.host_mode:
            try:
                records.append(attach.publish(new, runtime))
            except OSError as e:
                print(f"nslab: cannot publish this lab for `nslab attach`: {e.strerror}", file=env.stderr)
        return new

    records: list[str] = []
    if lab is not None:  # `nslab run -i`, `nslab attach`: a lab opened already
        lab.ask = env.ask  # `source FILE` at a terminal: the teaching replay
        if runtime is not None and not lab.host_mode:
            records.append(attach.publish(lab, runtime))
    repl = Repl(lab if lab is not None else opened, make_out, attached=attached, host_mode=host_mode, env=env)
    try:
        return repl.loop()
    finally:
        try:
            done = repl.lab
        except BaseException:
            done = None  # it never opened; the error was already shown
        if runtime is not None:
            for record in records:
                attach.withdraw(record, runtime)
            os.close(runtime)
        if done is not None:
            if attached:
                done.nss.close()  # an attached REPL lets go; the lab belongs to its own nslab
            else:
                done.close()
