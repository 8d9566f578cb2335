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


def enter(private_state: bool = False) -> None:
    """Unshare net+mount (and user when not root); private tmpfs on /run/netns.

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
    sysns.unshare(flags)
    if uid != 0:
        _map_root(uid, gid)
    sysns.mount(None, "/", None, sysns.MS_REC | sysns.MS_PRIVATE)
    if uid == 0 and private_state:
        _private_state_dir()
    if os.path.isdir(NETNS_DIR):
        sysns.mount("nslab", NETNS_DIR, "tmpfs", 0, "mode=0755")
    else:
        # An ordinary user cannot create /run/netns; a private /run can hold it.
        sysns.mount("nslab", "/run", "tmpfs", 0, "mode=0755")
        os.makedirs(NETNS_DIR, exist_ok=True)
    _remount_sys()
    os.environ[MARK] = str(os.getpid())


def _private_state_dir() -> None:
    """Root: a private /run/nslab, so `nslab --host` run from here (tests) keeps its journals here."""
    if os.path.isdir(STATE_DIR):
        sysns.mount("nslab", STATE_DIR, "tmpfs", 0, "mode=0755")
        return
    # Never create it on the real /run: put a private tmpfs over /run and bind each
    # real entry (docker.sock, openvswitch, lock...) back into it, then add nslab/.
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
            sysns.mount(src, dst, None, sysns.MS_BIND | sysns.MS_REC)
    finally:
        os.close(real)
    os.mkdir(STATE_DIR, 0o755)


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
