"""The lab's namespaces: created and opened in-process, one netlink socket each.

A namespace is made by unsharing the calling thread's network namespace,
bind-mounting /proc/thread-self/ns/net onto /run/netns/NAME, opening the
netlink socket there and going back: about 0.5 ms and no fork, where
`ip netns add` or pyroute2's own netns helpers fork a process each time.
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..lang.kinds import HOST  # noqa: F401  (the lab's host namespace: importers find it here)
from . import sysns
from .flap import Flaps
from .rtnl import RECV_SIZE, Rtnl, Shared, open_in

if TYPE_CHECKING:
    from pyroute2 import IPRoute



class Netns:
    """One namespace: its descriptor and netlink socket, opened on demand.

    A lab may hold more namespaces than the descriptor limit allows open at once
    (`ulimit -n 256`, 400 namespaces): the lab's Namespaces closes the least recently used
    ones (`release`) and they reopen here when next used, by path, only if the path still
    names the same namespace (its inode): a name made again outside nslab is not this one."""

    def __init__(self, name: str, fd: int, buf: bytearray | None = None, path: str | None = None,
                 touched: Callable[["Netns"], None] | None = None, shared: Shared | None = None,
                 watch: bool = True) -> None:
        self.name = name
        self.watch = watch  # its socket also hears the kernel's link announcements (kernel/watch.py); a reader's needs not
        self._fd = fd
        self._ipr: Any = None
        self._nl: Rtnl | None = None
        self.ino = os.fstat(fd).st_ino  # the namespace's inode: a name made again outside nslab is another namespace
        self.buf = buf  # the lab's shared netlink receive buffer
        self.shared = shared  # what the lab's sockets share: request counts, the step's cache (rtnl.Shared)
        self.path = path  # where to reopen it from (None: never released, like the lab's root)
        self._touched = touched

    def __repr__(self) -> str:
        return f"Netns({self.name!r}, ino={self.ino}, open={self.is_open})"

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    @property
    def fd(self) -> int:
        if self._fd < 0:
            self._reopen()
        if self._touched is not None:
            self._touched(self)
        return self._fd

    def _reopen(self) -> None:
        if self.path is None:
            raise CommandError(f"namespace {self.name!r} is closed")
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CommandError(f"no namespace {self.name!r}") from None
        except OSError as e:
            raise CommandError(f"cannot open namespace {self.name!r}: {e.strerror}") from None
        if os.fstat(fd).st_ino != self.ino:
            os.close(fd)
            raise CommandError(f"namespace {self.name!r} was deleted and made again outside this lab")
        self._fd = fd

    @property
    def nl(self) -> Rtnl:
        """The fast rtnetlink socket the lab's ops use (nslab/kernel/rtnl.py)."""
        fd = self.fd  # reopens (and marks it used) first
        if self._nl is None:
            self._nl = open_in(fd, self.buf, self.shared, watch=self.watch)
        return self._nl

    @property
    def ipr(self) -> "IPRoute":
        """A pyroute2 IPRoute in this namespace, for the rarer requests rtnl does not speak."""
        fd = self.fd
        if self._ipr is None:
            from pyroute2 import IPRoute

            with sysns.entered(fd):
                self._ipr = IPRoute()
        return self._ipr

    def release(self) -> None:
        """Close its descriptors; it reopens when next used."""
        if self._nl is not None:
            self._nl.close()
            self._nl = None
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        self.release()
        self.path = None  # never reopened


def prepare_run_dir(run_dir: str) -> None:
    """Make run_dir a shared mount point, as `ip netns add` does, so mounts propagate."""
    os.makedirs(run_dir, mode=0o755, exist_ok=True)
    try:
        sysns.mount("", run_dir, None, sysns.MS_SHARED | sysns.MS_REC)
    except OSError:
        sysns.mount(run_dir, run_dir, None, sysns.MS_BIND | sysns.MS_REC)
        sysns.mount("", run_dir, None, sysns.MS_SHARED | sysns.MS_REC)


class Namespaces:
    """Open namespaces by name; `host` is the lab's root namespace."""

    def __init__(self, root_fd: int, run_dir: str = "/run/netns") -> None:
        _raise_fd_limit()
        self.run_dir = run_dir
        self.buf = bytearray(RECV_SIZE)  # every socket of the lab receives into this one
        self.shared = Shared()  # the sockets' request counts and the step's cache (rtnl.Shared)
        self.shared.caching = True  # emptied as each step ends (Kernel.settle) and starts (new_step)
        self._open: dict[str, Netns] = {HOST: Netns(HOST, root_fd, buf=self.buf, shared=self.shared)}
        # the named namespaces holding descriptors now, least recently used first
        self._lru: OrderedDict[str, None] = OrderedDict()
        self.max_open = _open_budget()
        # names linked to another process's namespace (`ns link`): each check raises once it has exited
        self.checks: dict[str, Callable[[], None]] = {}
        # per namespace (by inode): the ids it gives other namespaces -> (name, inode) of each
        self._nsids: dict[int, dict[int, tuple[str, int | None]]] = {}
        self.flaps = Flaps()  # links going down and up in the background (`link EP flap`)
        # each namespace's place in the pictures: the order the lab first had it, kept for the lab's life,
        # so a namespace added (or deleted and made again) moves none of the others
        self.slots: dict[str, int] = {HOST: 0}
        prepare_run_dir(run_dir)

    @property
    def host(self) -> Netns:
        return self._open[HOST]

    @property
    def requests(self) -> Counter[int]:
        """Netlink requests the lab's sockets sent, by message type (RTM_GETLINK...)."""
        return self.shared.requests

    def new_step(self) -> None:
        """A step of the engine starts: nothing read before is kept, and a lookup made once is
        answered again from memory until the lab's next write (rtnl.Shared).  Kernel.settle
        calls it as a step ends; the session calls it as one starts (lookups made between
        steps, by a plan or a face, are not reused then)."""
        self.shared.writes += 1
        self.shared.caching = True

    def end_step(self) -> None:
        """Every lookup goes to the kernel until the next new_step (settle's polling)."""
        self.shared.caching = False
        self.shared.writes += 1

    def changed(self) -> None:
        """Something the sockets did not send changed the lab (an op done by a program, a
        namespace made or deleted): the step's cached lookups are forgotten."""
        self.shared.writes += 1

    def path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    def slot(self, name: str) -> int:
        return self.slots.setdefault(name, len(self.slots))

    def exists(self, name: str) -> bool:
        return name == HOST or os.path.exists(self.path(name))

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.run_dir) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def gone(self, name: str) -> str | None:
        """Why a linked name's process has stopped (its check's words), or None while it runs:
        listings of the whole lab skip such a name instead of failing on it."""
        check = self.checks.get(name)
        if check is None:
            return None
        try:
            check()
        except CommandError as e:
            return e.message
        return None

    def get(self, name: str) -> Netns:
        check = self.checks.get(name)
        if check is not None:
            check()
        ns = self._open.get(name)
        if ns is not None:
            if name == HOST:
                return ns
            try:
                same = os.stat(self.path(name)).st_ino == ns.ino
            except FileNotFoundError:
                same = False
            if same:
                return ns
            self._forget(name)  # deleted underneath (ip netns del), maybe made again by somebody
        try:
            # O_RDONLY of the mount: never creates a namespace on a typo.
            fd = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CommandError(f"no namespace {name!r}") from None
        except OSError as e:
            raise CommandError(f"cannot open namespace {name!r}: {e.strerror}") from None
        ns = self._open[name] = self._netns(name, fd)
        self._touch(ns)
        return ns

    def _netns(self, name: str, fd: int) -> Netns:
        return Netns(name, fd, buf=self.buf, path=self.path(name), touched=self._touch, shared=self.shared)

    def _touch(self, ns: Netns) -> None:
        """Mark ns used; past the budget, release the least recently used others."""
        if ns.name == HOST or self._open.get(ns.name) is not ns:
            return
        self._lru[ns.name] = None
        self._lru.move_to_end(ns.name)
        while len(self._lru) > self.max_open:
            oldest = next(iter(self._lru))
            if oldest == ns.name:
                break
            del self._lru[oldest]
            self._open[oldest].release()

    def nsid_owner(self, here: str, nsid: int) -> str | None:
        """The name of the namespace that `here` knows by `nsid` (a veth's IFLA_LINK_NETNSID).

        The kernel keeps an id while both namespaces live, so an answer is cached and only
        checked (the owner's inode, one RTM_GETNSID); a miss asks `here` for each named
        namespace's id, one request per file and no dumps, and caches them all."""
        ns = self.get(here)
        known = self._nsids.setdefault(ns.ino, {})
        hit = known.get(nsid)
        if hit is not None:
            name, ino = hit
            # a linked name whose process stopped: its inode is enough (get() refuses it)
            if self._ino(name) == ino and (self.gone(name) is not None or ns.nl.nsid(self.get(name).fd) == nsid):
                return name
        known.clear()
        for name in [HOST, *self.names()]:
            if name == here:
                continue
            ino = self._ino(name)
            if name != HOST and ino is None:
                continue
            try:
                fd = self.host.fd if name == HOST else os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                found = ns.nl.nsid(fd)
            except OSError:
                found = None
            finally:
                if name != HOST:
                    os.close(fd)
            if found is not None:
                known[found] = (name, self.host.ino if name == HOST else ino)
        hit = known.get(nsid)
        return hit[0] if hit is not None else None

    def _ino(self, name: str) -> int | None:
        if name == HOST:
            return self.host.ino
        try:
            return os.stat(self.path(name)).st_ino
        except OSError:
            return None

    def create(self, name: str) -> Netns:
        path = self.path(name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except FileExistsError:
            raise CommandError(f"namespace {name!r} exists already") from None
        back = sysns.current_netns_fd()
        try:
            sysns.unshare(sysns.CLONE_NEWNET)
            sysns.mount("/proc/thread-self/ns/net", path, None, sysns.MS_BIND)
            ns = self._netns(name, sysns.current_netns_fd())
            ns._nl = Rtnl(self.buf, self.shared, watch=True)  # opened while inside: it stays bound to the new namespace
        except BaseException as e:  # OSError, or Ctrl-C halfway: leave no half-made namespace
            sysns.setns(back)
            _unmount(path)
            if not isinstance(e, OSError):
                raise
            hint = " (a lab holds 3 descriptors per namespace: raise the hard limit, ulimit -Hn)" if e.errno == 24 else ""
            raise CommandError(f"cannot create namespace {name!r}: {e.strerror}{hint}") from None
        finally:
            sysns.setns(back)
            os.close(back)
        self._open[name] = ns
        self._touch(ns)
        self.slot(name)
        self.changed()
        return ns

    def delete(self, name: str) -> None:
        self._forget(name)
        if not os.path.exists(self.path(name)):
            raise CommandError(f"no namespace {name!r}")
        _unmount(self.path(name))
        self.changed()  # its veths' other ends go with it

    def _forget(self, name: str) -> None:
        self._lru.pop(name, None)
        ns = self._open.pop(name, None)
        if ns is not None:
            ns.close()

    def close(self) -> None:
        self.flaps.close()  # before the sockets and namespaces they toggle go
        for name in list(self._open):
            if name != HOST:
                self._forget(name)
        host = self._open.pop(HOST, None)
        if host is not None:
            host.close()


def _open_budget() -> int:
    """How many named namespaces may hold descriptors at once: each holds three (its fd, its
    netlink socket and its link watch; four with pyroute2's socket); a quarter of the soft
    limit is kept for everything else."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, (soft - max(64, soft // 4)) // 4)


def _raise_fd_limit() -> None:
    """Each open namespace holds three descriptors (its fd, its netlink socket, its link watch): a 1000-namespace
    lab needs more than the usual soft limit of 1024, so take the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))
        except (ValueError, OSError):
            pass


def _unmount(path: str) -> None:
    try:
        sysns.umount(path)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
