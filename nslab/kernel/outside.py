"""Listening sockets in the network namespace nslab was started in.

An isolated lab's process lives in a network namespace of its own (kernel/isolate.py), so its
127.0.0.1 is not the machine's, and a rootless process cannot go back (setns needs a capability
over the machine's namespace).  A socket keeps the namespace it was made in: so just before the
unshare a small child is forked that stays outside; it binds on request and passes the socket
back over a unix socket pair (SCM_RIGHTS).  It ends when the lab's process does (its end of the
pair reads EOF).  The web view (`web`) asks it for its listening socket, and (`--open`) to start the
browser: one started inside the lab could not reach the page (nor, rootless, the user's display).

It is also the lab's reaper: the lab tells it, before it makes them, what must not outlive it if it
dies without cleaning up (`kill -9`): a command to run (the lab's containers, removed by label and
ID, nslab/services/reap.py) and directories to remove (its programs' logs).  When the pair reads
EOF it does those and ends; a lab that cleaned up itself first says `forget` and nothing is run.
Being outside, it is in none of the lab's namespaces, so it holds none of them open.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess

_helper: socket.socket | None = None  # the lab's end of the pair, while a helper runs
_pid = 0


def start() -> None:
    """Fork the helper; call while single-threaded, before the unshare."""
    global _helper, _pid
    if _helper is not None:
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # the helper: never returns
        ours.close()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at the REPL is the lab's, not ours
        try:
            _serve(theirs)
        finally:
            os._exit(0)
    theirs.close()
    _helper, _pid = ours, pid


def _serve(pair: socket.socket) -> None:
    at_death: dict[str, list[str]] = {}  # key -> ("run", argv...) or ("rmtree", path)
    while True:
        try:
            asked = pair.recv(65536)
        except (OSError, KeyboardInterrupt):
            asked = b""
        if not asked:
            _reap(at_death)  # the lab's process ended
            return
        if asked.startswith(b"\0"):  # reaper requests: NUL-separated words, no reply
            word, key, *rest = asked[1:].decode().split("\0")
            if word == "forget":
                at_death.pop(key, None)
            else:
                at_death[key] = [word, *rest]
            continue
        if asked.startswith(b"open "):
            _open_browser(asked[5:].decode())
            pair.send(b"ok")
            continue
        host, _, port = asked.decode().rpartition(" ")
        try:
            made = _bind(host, int(port))
        except (OSError, ValueError) as e:
            pair.send(f"E{getattr(e, 'errno', None) or errno.EINVAL} {e}".encode())
            continue
        with made:
            socket.send_fds(pair, [b"ok"], [made.fileno()])


def _reap(at_death: dict[str, list[str]]) -> None:
    for word, *rest in at_death.values():
        if word == "rmtree":
            shutil.rmtree(rest[0], ignore_errors=True)
        elif word == "run":
            try:
                subprocess.run(rest, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60, check=False)
            except (OSError, subprocess.SubprocessError):
                pass  # nothing more a dead lab's helper can do


def _open_browser(url: str) -> None:
    """The user's browser on URL ($BROWSER, else the desktop's), in a grandchild: the helper neither waits
    for it nor leaves a zombie."""
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                import webbrowser

                signal.signal(signal.SIGINT, signal.SIG_DFL)  # the helper ignores Ctrl-C; the browser need not
                webbrowser.open(url)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def open_url(url: str) -> None:
    """Start the browser on URL from the namespace nslab was started in (the helper's), else here."""
    if _helper is None:  # already where nslab was started (host mode): as any program opens one
        import webbrowser

        webbrowser.open(url)
        return
    _helper.send(b"open " + url.encode())
    _helper.recv(16)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(128)
    except OSError:
        s.close()
        raise
    return s


def listen(host: str, port: int = 0) -> socket.socket:
    """A listening TCP socket on HOST:PORT (0: a free port) in the namespace nslab was started in:
    made by the helper when there is one (an isolated lab), else here."""
    if _helper is None:
        return _bind(host, port)
    _helper.send(f"{host} {port}".encode())
    msg, fds, _flags, _addr = socket.recv_fds(_helper, 512, 1)
    if not fds:
        code, _, said = msg.decode().partition(" ")
        raise OSError(int(code.removeprefix("E") or errno.EIO), said or "the outside helper ended")
    return socket.socket(fileno=fds[0])


def _tell(*words: str) -> bool:
    if _helper is None:
        return False
    try:
        _helper.send(b"\0" + "\0".join(words).encode())
    except OSError:
        return False
    return True


def at_death_run(key: str, argv: list[str]) -> bool:
    """When this process dies without `forget(key)`, the helper runs argv (outside the lab's namespaces).
    False: no helper (a host lab, or `nslab run` of a file that starts nothing that could outlive it)."""
    return _tell("run", key, *argv)


def at_death_rmtree(key: str, path: str) -> bool:
    """When this process dies without `forget(key)`, the helper removes the directory tree at path."""
    return _tell("rmtree", key, path)


def forget(key: str) -> None:
    _tell("forget", key)


def helper_pid() -> int:
    return _pid
