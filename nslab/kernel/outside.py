"""Listening sockets in the network namespace nslab was started in.

An isolated lab's process lives in a network namespace of its own (kernel/isolate.py), so its
127.0.0.1 is not the machine's, and a rootless process cannot go back (setns needs a capability
over the machine's namespace).  A socket keeps the namespace it was made in: so just before the
unshare a small child is forked that stays outside; it binds on request and passes the socket
back over a unix socket pair (SCM_RIGHTS).  It ends when the lab's process does (its end of the
pair reads EOF).  The web view (`web`) asks it for its listening socket, and (`--open`) to start the
browser: one started inside the lab could not reach the page (nor, rootless, the user's display).
"""

from __future__ import annotations

import errno
import os
import signal
import socket

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
    while True:
        try:
            asked = pair.recv(512)
        except (OSError, KeyboardInterrupt):
            return
        if not asked:
            return  # the lab's process ended
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


def helper_pid() -> int:
    return _pid
