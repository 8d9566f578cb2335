"""One process at a time changes a host lab: an flock on /run/nslab/NAME/lock.

The lock is held for the life of the process (the kernel drops it when the process
dies, `kill -9` too).  A second process is refused at once, never queued, with the
PID of the holder.  Read-only commands (`check`) share the lock with each other.

The lab's directory is also where its journal keeps `exec` arguments, so it must be
private: owned by this user, 0700, no symlink at it or in it, every file 0600.  A
directory left wider by an older nslab is tightened; one owned by someone else is refused.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from ..base.errors import NslabError

LOCK_FILE = "lock"


class LabBusyError(NslabError):
    """Another process holds the lab."""


class UnsafeDirError(NslabError):
    """The lab's directory (or something in it) is not private to this user."""


def _open_dir(path: str, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "a symlink (planted?)" if os.path.islink(path if dir_fd is None else _full(dir_fd, path)) else "not a directory"
            raise UnsafeDirError(f"{_full(dir_fd, path)} is {what}: refusing to use it; remove it") from None
        raise


def _full(dir_fd: int | None, name: str) -> str:
    return name if dir_fd is None else os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)


def private_dir(path: str) -> int:
    """An fd on the lab's directory, made (or checked and tightened to) 0700, owner only."""
    parent, name = os.path.split(path.rstrip("/"))
    os.makedirs(parent, mode=0o755, exist_ok=True)
    pfd = _open_dir(parent)
    try:
        st = os.fstat(pfd)
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            raise UnsafeDirError(f"{parent} may be changed by other users (owner uid {st.st_uid}, mode "
                            f"{stat.S_IMODE(st.st_mode):04o}): refusing to keep a lab's records there")
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            pass
        fd = _open_dir(name, pfd)
    finally:
        os.close(pfd)
    try:
        _tighten(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _tighten(fd: int, path: str) -> None:
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        raise UnsafeDirError(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): refusing to use it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    for entry in os.scandir(fd):
        where = os.path.join(path, entry.name)
        if entry.is_symlink():
            raise UnsafeDirError(f"{where} is a symlink (planted?): refusing to use the lab; remove it")
        if entry.is_dir(follow_symlinks=False):
            continue
        try:
            f = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except FileNotFoundError:
            continue
        try:
            fst = os.fstat(f)
            if not stat.S_ISREG(fst.st_mode) or fst.st_uid != os.geteuid():
                raise UnsafeDirError(f"{where} is not a regular file of yours: refusing to use the lab; remove it")
            if fst.st_nlink != 1:  # a hard link planted while the directory was open: another file's inode
                raise UnsafeDirError(f"{where} has {fst.st_nlink} hard links (planted?): refusing to use the lab; remove it")
            if stat.S_IMODE(fst.st_mode) & 0o077:
                os.fchmod(f, 0o600)
        finally:
            os.close(f)


def holders(fd: int) -> list[int]:
    """PIDs holding a lock on the file of `fd`, from the kernel's /proc/locks."""
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: list[int] = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                words = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters are "1: -> FLOCK ..."
                if len(words) > 5 and words[1] == "FLOCK" and words[5] == key and words[4].isdigit():
                    pids.append(int(words[4]))
    except OSError:
        pass
    return pids


def _who(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return f"PID {pid}"
    words = " ".join(a.decode(errors="replace") for a in argv)
    return f"PID {pid} ({words[:120]})"


class LabLock:
    """Held from construction to `release()` (or the end of the process)."""

    def __init__(self, path: str, name: str, shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self.fd: int | None = None
        for _ in range(100):  # the holder may remove the directory as we open it: try again
            dfd = private_dir(path)
            try:
                fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
                if self._take(fd, name) and self._still_there(fd, dfd):
                    self.fd = fd
                    break
                os.close(fd)
            finally:
                os.close(dfd)
        else:
            raise LabBusyError(f"lab {name!r}: {path} keeps being removed and re-made by another process")
        if not shared:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def _take(self, fd: int, name: str) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        pids = [p for p in holders(fd) if p != os.getpid()] or _pid_in(fd)
        os.close(fd)
        who = ", ".join(_who(p) for p in pids) if pids else "another process"
        raise LabBusyError(f"lab {name!r} is in use by {who}: it holds {os.path.join(self.path, LOCK_FILE)}; "
                      "wait for it to finish (or stop it), then try again")

    def _still_there(self, fd: int, dfd: int) -> bool:
        """The locked file is still the one at the path (not unlinked by the holder we waited for)."""
        try:
            here = os.stat(LOCK_FILE, dir_fd=dfd, follow_symlinks=False)
            top = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return here.st_ino == os.fstat(fd).st_ino and top.st_ino == os.fstat(dfd).st_ino

    def remove_dir(self) -> bool:
        """Remove the lab's directory if nothing but the lock is left in it (the lab is empty).
        Call it while holding the lock; the lock stays held until `release`."""
        try:
            left = [e for e in os.listdir(self.path) if e != LOCK_FILE]
            for stale in [e for e in left if e.startswith(".")]:  # a rewrite's temp file, cut by a crash
                os.unlink(os.path.join(self.path, stale))
                left.remove(stale)
            if left:
                return False
            os.unlink(os.path.join(self.path, LOCK_FILE))
            os.rmdir(self.path)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno == errno.ENOTEMPTY:  # a file appeared meanwhile
                return False
            raise
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _pid_in(fd: int) -> list[int]:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return []
    return [int(text)] if text.isdigit() else []
