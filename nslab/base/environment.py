"""What the process was started with, read once: streams, terminals, colour, width, directories, sockets.

`cli.main` builds one `Environment` from `os.environ` and the real streams (`from_process`) and
passes it down to the renderer, the REPL, the teaching replay, attach and the lab; nothing else
reads the process environment, the standard streams or the terminal.  A test builds its own
(`Environment.of`) with StringIO streams and a made-up environ and calls `cli.main(argv, env=...)`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pwd
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

Ask = Callable[[str], str]

STATE_DIR = "/run/nslab"  # host labs' journals and locks
NETNS_DIR = "/run/netns"  # named network namespaces, as iproute2 keeps them
DEFAULT_COLUMNS = 80
PIPE_COLUMNS = 160


@dataclass(frozen=True)
class Environment:
    """What nslab was started with: streams, terminal, colour, width, directories, Docker socket."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    no_color: bool = False  # --no-color or NO_COLOR: no colour whatever the terminal
    columns: int = DEFAULT_COLUMNS
    runtime_dir: Path = Path("/tmp/nslab")  # where a REPL publishes its lab for `nslab attach`
    state_dir: str = STATE_DIR
    netns_dir: str = NETNS_DIR
    history_path: Path | None = None  # None: no history file (kept in memory)
    docker_host: str | None = None  # DOCKER_HOST; None: the engine's default socket
    shell: str = "/bin/sh"  # $SHELL, for `shell NS` and `nslab attach NS`
    # what child programs inherit: os.environ itself in the real one, so the marks isolation sets
    # later (isolate.MARK, isolate.OUTER) reach them
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ask: Ask | None = None  # the key reader of the teaching replay; None: no person at a terminal
    prompt_input: Any = None  # prompt_toolkit Input/Output for the REPL; None: the process's terminal
    prompt_output: Any = None

    @property
    def color(self) -> bool:
        """Colour on stdout: a terminal, and nobody said no."""
        return self.stdout_isatty and not self.no_color

    @property
    def output_width(self) -> int:
        """The width output is laid out in: COLUMNS or the terminal's; into a pipe or a file with no
        COLUMNS, PIPE_COLUMNS (a table cell wrapped at 80 columns is a line grep cannot find)."""
        return self.columns if self.stdout_isatty or self.environ.get("COLUMNS") else PIPE_COLUMNS

    @property
    def stderr_color(self) -> bool:
        return self.stderr_isatty and not self.no_color

    def replace(self, **changes: Any) -> Environment:
        return dataclasses.replace(self, **changes)

    def key_reader(self) -> Ask:
        """The teaching replay's keys for `nslab run --step`: the person's, or lines of stdin."""
        return self.ask or stream_ask(self.stdin, self.stdout)

    def stdin_bytes(self) -> Any:
        """Standard input as bytes (`nslab run -`)."""
        buffer = getattr(self.stdin, "buffer", None)
        return buffer if buffer is not None else io.BytesIO(self.stdin.read().encode())

    @classmethod
    def of(cls, environ: Mapping[str, str] | None = None, *, stdin: TextIO | None = None,
           stdout: TextIO | None = None, stderr: TextIO | None = None, **fields: Any) -> Environment:
        """An environment from a mapping and streams (StringIO when not given): for tests and
        for `from_process`.  Every derived field can still be overridden by name."""
        environ = environ if environ is not None else {}
        stdin = stdin if stdin is not None else io.StringIO()
        stdout = stdout if stdout is not None else io.StringIO()
        stderr = stderr if stderr is not None else io.StringIO()
        derived: dict[str, Any] = {
            "stdin_isatty": _isatty(stdin), "stdout_isatty": _isatty(stdout), "stderr_isatty": _isatty(stderr),
            "no_color": bool(environ.get("NO_COLOR")),  # no-color.org: any non-empty value
            "runtime_dir": runtime_dir(environ),
            "history_path": history_path(environ),
            "docker_host": environ.get("DOCKER_HOST") or None,
            "shell": environ.get("SHELL") or "/bin/sh",
            "environ": environ,
        }
        derived.update(fields)
        if "ask" not in fields:  # a person at the terminal answers the teaching replay's prompts
            derived["ask"] = stream_ask(stdin, stdout) if derived["stdin_isatty"] else None
        if "columns" not in fields:
            derived["columns"] = columns(environ, stdout if derived["stdout_isatty"] else None)
        return cls(stdin=stdin, stdout=stdout, stderr=stderr, **derived)

    @classmethod
    def from_process(cls) -> Environment:
        """The real one: os.environ and the process's standard streams."""
        ask = terminal_ask if _isatty(sys.stdin) else None  # `source FILE` at a terminal: the teaching replay
        return cls.of(os.environ, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr, ask=ask)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed stream
        return False


def columns(environ: Mapping[str, str], terminal: Any) -> int:
    """COLUMNS, else the terminal's width, else 80."""
    try:
        wanted = int(environ.get("COLUMNS", ""))
        if wanted > 0:
            return wanted
    except ValueError:
        pass
    if terminal is not None:
        try:
            return os.get_terminal_size(terminal.fileno()).columns or DEFAULT_COLUMNS
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            pass
    return DEFAULT_COLUMNS


def home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def history_path(environ: Mapping[str, str]) -> Path:
    state = environ.get("XDG_STATE_HOME") or os.path.join(home(environ), ".local", "state")
    return Path(state) / "nslab" / "history"


def real_uid() -> int:
    """The caller's uid as the machine knows it.  A rootless isolated REPL runs in a user
    namespace where it is uid 0; /proc/self/uid_map maps that back to the uid outside."""
    uid = os.getuid()
    try:
        with open("/proc/self/uid_map") as f:
            for line in f:
                inside, outside, count = (int(x) for x in line.split())
                if inside <= uid < inside + count:
                    return outside + uid - inside
    except (OSError, ValueError):
        pass
    return uid


def runtime_dir(environ: Mapping[str, str]) -> Path:
    # not under /run: an isolated process may have a private tmpfs there
    return Path(environ.get("NSLAB_RUNTIME_DIR") or f"/tmp/nslab-{real_uid()}")


ENGINE_SETTINGS = ("DOCKER_HOST", "CONTAINER_HOST", "XDG_RUNTIME_DIR", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def engine_settings() -> dict[str, str]:
    """The settings that say where the container engine is (nslab/services/engine.py), from this
    process's environment, as process_docker_host reads DOCKER_HOST."""
    return {k: os.environ[k] for k in ENGINE_SETTINGS if os.environ.get(k)}


def process_docker_host() -> str | None:
    """DOCKER_HOST of this process, for the callers the environment does not reach yet
    (containers.find from the container handlers, completion.read_containers): they pass none."""
    return os.environ.get("DOCKER_HOST") or None


def terminal_ask(prompt: str) -> str:
    """The key reader at a terminal: a line (with line editing); end of input means quit."""
    try:
        return input(prompt)
    except EOFError:
        return "q"


def stream_ask(stdin: TextIO, stdout: TextIO) -> Ask:
    """A key reader over streams that are not a terminal: the prompt, then one line."""
    def ask(prompt: str) -> str:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        return line.rstrip("\n") if line else "q"

    return ask
