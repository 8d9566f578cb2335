"""Isolated mode: move this process into a private network and mount namespace.

Done first thing at start-up (user and mount namespaces need a single-threaded
process).  The lab then lives in namespaces only this process holds, so the
kernel removes all of it when the process ends, even on `kill -9`.
"""

from __future__ import annotations

import os

from . import sysns

MARK = "NSLAB_ISOLATED"
OUTER = "NSLAB_OUTER_NETNS"
NETNS_DIR = "/run/netns"
STATE_DIR = "/run/nslab"  # host labs' journals: a host-mode child of this process must not reach the real one


def is_isolated() -> bool:
    return os.environ.get(MARK) == str(os.getpid())


def enter(private_state: bool = False, outside_helper: bool = True) -> None:
    """Unshare net+mount (and user when not root); private tmpfs on /run/netns.

    `outside_helper`: first fork the helper that makes listening sockets outside (kernel/outside.py);
    a process that will never serve the web view (`nslab run` without `-i`) skips the fork.

    `private_state`: also a private /run/nslab, for a process that runs `nslab --host`
    children against its own isolated root (the tests).  Off by default: the private
    /run it may need would hide sockets created later on the real /run (docker.sock).
    """
    if is_isolated():
        return
    # the namespace we leave: `ns ls` names it as the machine's own, outside the lab
    os.environ.setdefault(OUTER, str(os.stat("/proc/self/ns/net").st_ino))
    uid, gid = os.geteuid(), os.getegid()
    flags = sysns.CLONE_NEWNET | sysns.CLONE_NEWNS
    if uid != 0:
        flags |= sysns.CLONE_NEWUSER
    if outside_helper:
        from . import outside

        outside.start()  # a helper left in this namespace: it binds the web view's socket here (kernel/outside.py)
    sysns.unshare(flags)
    if uid != 0:
        _map_root(uid, gid)
    sysns.mount(None, "/", None, sysns.MS_REC | sysns.MS_PRIVATE)
    wanted = [NETNS_DIR] + ([STATE_DIR] if uid == 0 and private_state else [])
    missing = [d for d in wanted if not os.path.isdir(d)]
    if missing:
        _private_run(missing)
    for d in wanted:
        sysns.mount("nslab", d, "tmpfs", 0, "mode=0755")
    _remount_sys()
    os.environ[MARK] = str(os.getpid())


def _private_run(missing: list[str]) -> None:
    """Directories under /run that this process needs and the machine lacks (an ordinary user
    cannot create /run/netns; root must not create anything on the real /run): a private tmpfs
    over /run with each real entry (docker.sock, openvswitch, lock...) bound back, then those."""
    real = os.open("/run", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        names = os.listdir(f"/proc/self/fd/{real}")
        sysns.mount("nslab", "/run", "tmpfs", 0, "mode=0755")
        for name in names:
            src, dst = f"/proc/self/fd/{real}/{name}", f"/run/{name}"
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
                continue
            if os.path.isdir(src):
                os.mkdir(dst)
            else:
                os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o600))
            try:
                sysns.mount(src, dst, None, sysns.MS_BIND | sysns.MS_REC)
            except OSError:
                pass  # an entry this user may not bind (rootless): it stays hidden, as before
    finally:
        os.close(real)
    for d in missing:
        os.makedirs(d, 0o755, exist_ok=True)


def _map_root(uid: int, gid: int) -> None:
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def _remount_sys() -> None:
    # /sys/class/net should show the lab's interfaces, not the real host's.
    try:
        sysns.mount("sysfs", "/sys", "sysfs", 0)
    except OSError:
        pass
