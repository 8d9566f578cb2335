"""The interactive shell: a prompt_toolkit prompt over the same parser and session.

Each line goes text -> parser -> session -> events -> renderer, exactly as a `.lab` line does.
Completion and the toolbar (toolbar.py) read an `Inventory` snapshot re-read after each step and,
while the prompt waits, whenever the lab's namespaces change (live.py), never on a keystroke.
Tab and Enter are keys.py's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base.environment import Environment
from ..base.results import Changes, Interactive, WebRequested
from ..base.words import count
from ..kernel import isolate
from ..kernel.netns import HOST
from ..lang.lexer import current_line
from ..lang.lexer import join_continued as logical  # a typed line's `\\` continuations, joined as a .lab file's
from . import attach, keys, toolbar, web
from .aboveprompt import AbovePrompt
from .completion import (
    Candidate,
    Fits,
    Inventory,
    LabCompleter,
    candidates,
    fits,
    read_containers,
    read_inventory,
    wants_containers,
)
from .goalbar import after_step
from .live import Live
from .terminal import Terminal, run_shell
from .validate import LEAVE, LEAVE_NOW
from .validate import validator as _validator

# commands that may change the lab without ops of their own (programs, shells, journal replays)
_REFRESH_AFTER = frozenset({"exec", "shell", "source", "undo", "reset", "sysctl"})


class LabEndedError(Exception):
    """The lab an attached REPL joined has ended (its process exited)."""


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
        self._containers_at = 0.0  # when the engine was last asked
        self.io = {"input": pt_input or self.env.prompt_input, "output": pt_output or self.env.prompt_output}
        self.live = Live(self._changed_elsewhere, self._lab_ended)
        self.above = AbovePrompt(lambda: self.session.app, lambda: self.out)  # background captures' lines
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
        if app.is_running and self._lab is not None:
            self.live.opened(self._lab)
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
        if self._lab is not None and getattr(self._lab, "captures", None) is not None:
            self._lab.captures.sink = self.above  # `capture start`'s lines come to this REPL
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
        threading.Thread(target=self._read_containers, name="nslab-containers", daemon=True).start()

    def _read_containers(self) -> None:
        self._containers_at = time.monotonic()
        self.containers = read_containers()
        self.inv.containers = self.containers

    def _containers_wanted(self) -> None:
        """Typing where a container fits: the engine is asked again, at most once a second."""
        if time.monotonic() - self._containers_at > 1.0:
            self._containers_at = time.monotonic()
            self._load_containers()

    def _changed_elsewhere(self) -> None:
        """The monitor saw the lab change while the prompt waits: a fresh snapshot, a new toolbar."""
        if self._lab is None:
            return
        self._lab.nss.changed()  # nothing the lab's sockets remember is trusted now
        self.refresh()
        self.session.app.invalidate()

    def _lab_ended(self) -> None:
        if self.session.app.is_running:
            self.session.app.exit(exception=LabEndedError())

    def complete_now(self, text: str) -> tuple[Fits, list[Candidate]]:
        """What Tab inserts, computed as the key is read (keys.py)."""
        context, inv = self.snapshot()
        f = fits(current_line(text), context)
        if wants_containers(f):
            self._read_containers()  # a container started a moment ago is there
            inv = self.inv
        return f, candidates(f, inv)

    def snapshot(self) -> tuple[str, Inventory]:
        return self._shown().context, self.inv

    # -- prompt_toolkit --------------------------------------------------
    def _session(self, hist: Path | None) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.lexers import PygmentsLexer

        from .highlight import NslabLexer

        try:
            if hist is None:
                raise FileNotFoundError  # no history file: this session's lines only
            _private_history(hist)
            history: Any = FileHistory(str(hist))
        except OSError:
            history = InMemoryHistory()
        return PromptSession(
            completer=LabCompleter(self.snapshot, self._containers_wanted),
            complete_while_typing=True,
            validator=_validator(),
            validate_while_typing=True,
            lexer=PygmentsLexer(NslabLexer),
            history=history,
            enable_history_search=False,  # Ctrl-R searches; Up walks history
            bottom_toolbar=self.toolbar,
            key_bindings=keys.bindings(self.complete_now),
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
            style=_style(),
            **{k: v for k, v in self.io.items() if v is not None},
        )

    def prompt(self) -> str:
        return prompt_text(self._shown(), self.attached)

    def toolbar(self) -> str:
        return toolbar.text(toolbar.Bar(self.inv, self._shown(), self.attached))

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
        before = len(self.lab.journal.steps)
        events = self.lab.stream_line(line)
        changed = False
        try:
            for event in events:
                if isinstance(event, Interactive):
                    run_shell(self.lab, event, self.env)
                if isinstance(event, WebRequested):
                    for said in web.serve(self.lab, event):  # the URL, or why not
                        self.out(said)
                    continue
                changed = changed or isinstance(event, (Changes, Interactive))
                self.out(event)
        except KeyboardInterrupt:
            events.close()
            self.out.line("interrupted", "yellow")
            changed = True
        # re-read after any step that may have changed the lab (its own ops, a sourced file's, a
        # program's), not after a listing: a lab of 1,000 links takes 0.15 s to read
        web.flush(self.lab)
        steps = [*self.lab.journal.steps[before:], *([self.lab.last] if self.lab.last else [])]
        for step in steps:
            changed = changed or bool(step.ops or step.program or step.command in _REFRESH_AFTER)
        if changed:
            self.refresh()
            self._load_containers()  # `exec docker run ...` starts one
            after_step(self.lab)  # an open exercise's goals, for the toolbar
        elif any(step.command == "ping" for step in steps):
            after_step(self.lab)  # traffic teaches bridges and neighbours: goals on what they learned (expect fdb/neigh)

    def read_line(self) -> str:
        """The next line typed; the lab is watched while the prompt waits for it."""
        try:
            return str(self.session.prompt(self.prompt, pre_run=lambda: self.live.start(self._lab)))
        finally:
            self.live.stop()

    def loop(self) -> int:
        while True:
            if self.live.ended():
                return self._say_ended()
            try:
                text = self.read_line()
            except LabEndedError:
                return self._say_ended()
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

    def _say_ended(self) -> int:
        print("nslab: the lab ended (its nslab exited); leaving the attached REPL", file=self.env.stderr)
        return 0


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
        lab.terminal = Terminal.of(env)  # programs run on the terminal itself
        if runtime is not None and not lab.host_mode:
            records.append(attach.publish(lab, runtime))
    repl = Repl(lab if lab is not None else opened, make_out, attached=attached, host_mode=host_mode, env=env)
    if attached:
        repl.live.owner = attach.owner_pidfd()
    try:
        return repl.loop()
    finally:
        try:
            done = repl.lab
        except BaseException:
            done = None  # it never opened; the error was already shown
        repl.live.close()
        if runtime is not None:
            for record in records:
                attach.withdraw(record, runtime)
            os.close(runtime)
        if done is not None:
            if attached:
                done.nss.close()  # an attached REPL lets go; the lab belongs to its own nslab
            else:
                done.close()
