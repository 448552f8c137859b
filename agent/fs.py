"""The mount: pyfuse3 operations over every configured backend, ``MOUNT/<backend>/<path>``.

All state here is touched only by the trio thread; blocking backend and disk calls go to worker
threads (``Backend.call``, one capacity limit, one deadline). Object-store prefixes are directories.
Local backends are read and written through the files themselves; object-store writes go to a local
temp file shared by the file's writers and are uploaded on flush, fsync and release. The semantics
are stated in docs/mount.md. Every failure becomes an errno for the
caller and the ``error`` of the operation's event; nothing here may take the mount down.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import stat
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

import pyfuse3
import trio
from pyfuse3 import FUSEError

from warpdrive.schemas.storage import DIR, Entry, VersionChanged
from warpdrive.schemas.storage.local import entry_of_stat

from .backend import Backend
from .cache import BlockCache
from .errors import QuotaExceeded, errno_of, error_text
from .identity import Identities
from .quota import Quotas
from .telemetry import Collector, Window

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (backend name, path inside it); ("", "") is the mount root
ROOT: Key = ("", "")
NAME_MAX = 255
STOPPED = "ECANCELED: the agent stopped before the backend answered"  # a call abandoned at unmount


class Inodes:
    """Inode numbers for paths, never reused; entries go when the kernel forgets them.

    A rename moves the inode of the renamed path and of every path below it (the kernel keeps their
    dentries, so ``sd2/child`` must still name the child after ``mv sd sd2``). An unlinked or replaced
    path's inode is *detached*: it keeps its last key for events, but no path names it any more, so
    its open handles never write back to a path that now belongs to another file.
    """

    def __init__(self) -> None:
        self._keys: dict[int, Key] = {pyfuse3.ROOT_INODE: ROOT}
        self._inodes: dict[Key, int] = {ROOT: pyfuse3.ROOT_INODE}
        self._lookups: Counter[int] = Counter()
        self._detached: set[int] = set()
        self._next = pyfuse3.ROOT_INODE + 1

    def key(self, inode: int) -> Key:
        try:
            return self._keys[inode]
        except KeyError:
            raise FUSEError(errno.ESTALE) from None

    def current(self, inode: int) -> Key | None:
        """The path naming the inode now; None once it was unlinked or replaced."""
        return None if inode in self._detached else self._keys.get(inode)

    def find(self, key: Key) -> int | None:
        return self._inodes.get(key)

    def inode(self, key: Key) -> int:
        ino = self._inodes.get(key)
        if ino is None:
            ino, self._next = self._next, self._next + 1
            self._inodes[key] = ino
            self._keys[ino] = key
        return ino

    def looked_up(self, inode: int) -> None:
        self._lookups[inode] += 1

    def forget(self, inode: int, n: int) -> bool:
        """Whether the kernel has now forgotten the inode altogether."""
        self._lookups[inode] -= n
        if self._lookups[inode] <= 0 and inode != pyfuse3.ROOT_INODE:
            del self._lookups[inode]
            self._detached.discard(inode)
            key = self._keys.pop(inode, None)
            if key is not None and self._inodes.get(key) == inode:
                del self._inodes[key]
            return True
        return False

    def detach(self, key: Key) -> int | None:
        """After an unlink or rmdir: the path no longer names its inode."""
        ino = self._inodes.pop(key, None)
        if ino is not None:
            self._detached.add(ino)
        return ino

    def move(self, old: Key, new: Key, is_dir: bool) -> None:
        """After a rename: the inode (and a directory's descendants') follow; a replaced target is detached."""
        self.detach(new)
        backend, rel = old
        moved = [(old, self._inodes.pop(old))] if old in self._inodes else []
        if is_dir:
            prefix = rel + "/"
            moved += [
                (k, self._inodes.pop(k))
                for k in [k for k in self._inodes if k[0] == backend and k[1].startswith(prefix)]
            ]
        for k, ino in moved:
            nk = (backend, new[1] + k[1][len(rel) :])
            self._inodes[nk] = ino
            self._keys[ino] = nk


@dataclass(eq=False)
class Staged:
    """An object-store file open for writing: its content in a local temp file, shared by every writer
    of the inode (each sees the others' bytes, as on a local disk), uploaded on flush, fsync and close."""

    path: str
    fd: int
    entry: Entry  # the version the content started from (its owner and mode are the file's)
    size: int = 0
    mtime: float = field(default_factory=time.time)
    changes: int = 0  # writes so far; an upload is clean only if none happened during it
    uploaded: int = -1  # ``changes`` at the last upload that finished
    handles: int = 0

    @property
    def dirty(self) -> bool:
        return self.changes != self.uploaded


@dataclass(eq=False)
class Handle:
    """One open file: who opened it (read/write handlers get no request context), and its windows."""

    inode: int
    backend: Backend
    rel: str  # the path now (it follows renames), for events and uploads
    entry: Entry  # the version pinned at open: object-store reads are of this version only
    uid: int
    user: str
    fd: int | None = None  # local backends: the file itself; object stores: a private copy once unlinked
    staged: Staged | None = None  # object stores, open for writing
    writable: bool = False
    append: bool = False  # O_APPEND: every write goes to the current end, whatever offset the kernel sends
    pinned_fd: bool = False  # fd is the local file itself, read-only: each read checks it is still entry.version
    pin: tuple[int, int, int, int] = (0, 0, 0, 0)  # local readers: _stat_key of the version opened
    seen: Stat = ()  # local readers: the whole fstat ``entry`` was last made from (see _reader_entry)
    kernel_cached: bool = False  # opened with keep_cache: reads may never reach us
    reads_seen: int = 0
    memo: dict[int, bytes] = field(default_factory=dict)
    reads: Window = field(default_factory=Window)
    writes: Window = field(default_factory=Window)


@dataclass(eq=False)
class DirHandle:
    inode: int
    uid: int
    entries: list[tuple[bytes, Key, Entry]] | None = None


_PROBE = bytearray(1)


def _pread_nowait(fd: int, size: int, off: int, known_size: int) -> bytes | None:
    """The bytes, read inline, if the page cache holds the range's first and last page; else None.

    A one-byte RWF_NOWAIT probe at each end never blocks; reading a cached range inline saves the
    thread hand-off, most of a cached read's cost. (Reading the whole range with RWF_NOWAIT into a
    buffer measured slower than ``os.pread`` here: docs/benchmarks.md.) A range cached only at its ends is rare: it
    may block the loop for one disk read.
    """
    end = min(off + size, known_size) - 1
    try:
        for pos in (off, end) if end > off else (off,):
            if os.preadv(fd, [_PROBE], pos, os.RWF_NOWAIT) != 1:
                return None
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: a file system without RWF_NOWAIT
        return None
    return os.pread(fd, size, off)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_LIBC = ctypes.PyDLL(None, use_errno=True)  # keeps the GIL: the call cannot block, and handing the GIL over costs more
_LIBC_BLOCKING = ctypes.CDLL(None, use_errno=True)  # releases the GIL: this open may wait for a disk or NFS
_SYS_OPENAT2 = ctypes.c_long(437)  # one number on every Linux architecture (added after the table unification)
_RESOLVE_BENEATH, _RESOLVE_CACHED = 0x08, 0x20
_READ_CACHED = _OpenHow(os.O_RDONLY | os.O_CLOEXEC, 0, _RESOLVE_CACHED | _RESOLVE_BENEATH)
_HOW_SIZE = ctypes.c_long(ctypes.sizeof(_OpenHow))


def _open_nowait(root_fd: int, rel: str) -> int | None:
    """A read-only fd of ``rel`` beneath ``root_fd``, opened inline, if the kernel can resolve it from its
    dentry cache; else None.

    ``openat2(RESOLVE_CACHED)`` (Linux 5.12) fails with EAGAIN instead of doing I/O or network
    revalidation, so it never waits for a disk or network lookup; the caller then opens in a worker
    thread. Saves the thread hand-off, most of a warm open's cost. Any failure (EAGAIN, ENOENT, EXDEV,
    ENOSYS under a seccomp filter) takes the slow path, which reports the real error.
    """
    fd: int = _LIBC.syscall(
        _SYS_OPENAT2, ctypes.c_long(root_fd), os.fsencode(rel), ctypes.byref(_READ_CACHED), _HOW_SIZE
    )
    return fd if fd >= 0 else None


def open_beneath(root_fd: int, rel: str, flags: int, mode: int = 0) -> int:
    """In a worker thread: ``rel`` opened beneath the backend's root (``RESOLVE_BENEATH``): a symlink or
    ``..`` leading outside it is EACCES, so the agent (root) never opens a file outside a backend."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_BENEATH)
    fd: int = _LIBC_BLOCKING.syscall(
        _SYS_OPENAT2, ctypes.c_long(root_fd), os.fsencode(rel), ctypes.byref(how), _HOW_SIZE
    )
    if fd < 0:
        code = ctypes.get_errno()
        if code == errno.EXDEV:
            raise PermissionError(errno.EACCES, f"{rel} leads outside the backend's root")
        raise OSError(code, os.strerror(code), rel)
    return fd


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


COPY_CHUNK = 8 << 20


Stat = tuple[Any, ...]


def _whole(st: os.stat_result) -> Stat:
    """Every field of a (f)stat, times in ns: two equal ones make equal entries, so the last entry is reused
    (an Entry costs more to make than the fstat it comes from)."""
    return st[:7], st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What a local file's version is made of (version_of_stat), compared without formatting it: every
    read of a local file checks it."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _staged_entry(s: Staged) -> Entry:
    """The entry of content being written here: it is no version of the backend's (yet)."""
    return replace(s.entry, size=s.size, mtime=s.mtime, version="")


def _copy_pinned(backend: Backend, rel: str, entry: Entry, fd: int) -> None:
    """In a worker thread: the object's bytes as of ``entry.version`` into ``fd`` (VersionChanged if gone)."""
    for start in range(0, entry.size, COPY_CHUNK):
        end = min(entry.size, start + COPY_CHUNK)
        os.pwrite(fd, backend.kind.read_range(backend.fs, backend.full(rel), start, end, entry.version), start)


def _create_local(root_fd: int, rel: str, flags: int, mode: int, owner: tuple[int, int] | None) -> int:
    """In a worker thread: opens ``rel``, creating it as the caller (owner, mode after umask) if new."""
    acc = flags & (os.O_ACCMODE | os.O_APPEND)
    try:
        fd = open_beneath(root_fd, rel, acc | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if flags & os.O_EXCL:
            raise
        return open_beneath(root_fd, rel, acc | (flags & os.O_TRUNC))
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)  # after chown, which clears set-id bits; not masked by the agent's own umask
    except BaseException:
        os.close(fd)
        os.unlink(rel, dir_fd=root_fd)
        raise
    return fd


def _mkdir_local(full: str, mode: int, owner: tuple[int, int] | None) -> None:
    os.mkdir(full, 0o700)
    try:
        if owner is not None:
            os.chown(full, *owner)
        os.chmod(full, mode)
    except BaseException:
        os.rmdir(full)
        raise


class WarpFS(pyfuse3.Operations):
    enable_writeback_cache = False  # the backend is the truth; other writers may change it

    def __init__(
        self,
        backends: Sequence[Backend],
        cache: BlockCache,
        collector: Collector,
        identities: Identities,
        quotas: Quotas,
        work_dir: Path,
        ttl: float,
        flush_interval: float,
        read_only: bool = False,
        object_uid: int = -1,
        object_gid: int = -1,
        object_umask: int = 0,
    ) -> None:
        super().__init__()
        self.read_only = read_only  # mounted "ro": the kernel refuses every write before it reaches us
        self.backends = {b.name: b for b in backends}
        self.cache = cache
        self.telemetry = collector
        self.identities = identities
        self.quotas = quotas
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        for stale in work_dir.iterdir():  # staged writes of a crashed run: their handles are gone with it
            stale.unlink(missing_ok=True)
        self.ttl = ttl
        self.flush_interval = flush_interval
        self.inodes = Inodes()
        self.handles: dict[int, Handle] = {}
        self.open_by_inode: dict[int, list[Handle]] = {}
        self.staged: dict[int, Staged] = {}  # object-store files open for writing, by inode
        self.dirs: dict[int, DirHandle] = {}
        # What the kernel keeps per inode is shared by all of the inode's handles, so it must be of the
        # version they pinned: its page cache (``_versions``) and its attributes, the size above all
        # (``_told``: the version of the attributes last given to it; a size of another version cuts
        # reads short or runs them long). "" is content being written here (a staged object).
        self._versions: dict[int, str] = {}
        self._told: dict[int, str] = {}
        # Local files: the entry the inode's last open made, and the fstat it was made from (reused while
        # the file's fstat is the same: most opens of a file open it unchanged).
        self._opened: dict[int, tuple[Stat, Entry]] = {}
        self._next_fh = 1
        # Object stores have no owners or modes: one documented policy for all of their files.
        self.uid = os.getuid() if object_uid < 0 else object_uid
        self.gid = os.getgid() if object_gid < 0 else object_gid
        self.file_mode, self.dir_mode = 0o666 & ~object_umask, 0o777 & ~object_umask
        self.as_root = os.getuid() == 0  # new local files then belong to the caller
        self.errors = 0

    # -- helpers ---------------------------------------------------------------------------------

    def _fh(self) -> int:
        fh, self._next_fh = self._next_fh, self._next_fh + 1
        return fh

    def _backend(self, key: Key) -> Backend:
        return self.backends[key[0]]

    def _name(self, backend: Backend, raw: bytes) -> str:
        """A FUSE name as the backend's path component; object stores take only UTF-8."""
        if len(raw) > NAME_MAX:
            raise FUSEError(errno.ENAMETOOLONG)
        if backend.local:
            return os.fsdecode(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FUSEError(errno.EINVAL) from None

    def _child(self, parent: int, raw: bytes) -> Key:
        backend_name, rel = self._path(parent)
        if raw == b"." or raw == b"..":
            raise FUSEError(errno.EINVAL)
        if parent == pyfuse3.ROOT_INODE:
            name = os.fsdecode(raw)
            if name not in self.backends:
                raise FUSEError(errno.ENOENT)
            return (name, "")
        return (backend_name, _join(rel, self._name(self.backends[backend_name], raw)))

    def _path(self, inode: int) -> Key:
        """The path naming the inode now; ENOENT once it was unlinked (a handle may outlive it)."""
        key = self.inodes.current(inode)
        if key is None:
            self.inodes.key(inode)  # ESTALE if the inode is unknown altogether
            raise FUSEError(errno.ENOENT)
        return key

    def _owner(self, ctx: pyfuse3.RequestContext) -> tuple[int, int] | None:
        return (ctx.uid, ctx.gid) if self.as_root else None

    def _attrs(self, inode: int, entry: Entry) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.generation = 0
        a.entry_timeout = a.attr_timeout = self.ttl
        # Local backends report their own modes and owners; object stores the configured policy.
        if entry.is_dir:
            a.st_mode, a.st_nlink = stat.S_IFDIR | (self.dir_mode if entry.mode is None else entry.mode), 2
        else:
            a.st_mode, a.st_nlink = stat.S_IFREG | (self.file_mode if entry.mode is None else entry.mode), 1
        if entry.nlink is not None:
            a.st_nlink = entry.nlink
        a.st_size = entry.size
        a.st_uid = self.uid if entry.uid is None else entry.uid
        a.st_gid = self.gid if entry.gid is None else entry.gid
        if entry.times_ns is not None:
            a.st_atime_ns, a.st_mtime_ns, a.st_ctime_ns = entry.times_ns
        else:
            a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = int(entry.mtime * 1e9)
        a.st_blksize = 1 << 17
        a.st_blocks = (entry.size + 511) // 512
        if not entry.is_dir:
            self._told[inode] = entry.version
        return a

    def _live(self, inode: int) -> Entry | None:
        """The entry of an open file as its handles see it: the content being written, else the version
        its readers pinned (never a newer one from the backend: the kernel would apply its size to them)."""
        s = self.staged.get(inode)
        if s is not None:
            return _staged_entry(s)
        handles = self.open_by_inode.get(inode, ())
        for h in handles:
            if h.fd is not None and h.writable:  # a local file being written: as it is now
                with contextlib.suppress(OSError):
                    return entry_of_stat(os.fstat(h.fd))  # inline: an fstat of an open file never waits
        for h in handles:
            if h.pinned_fd and h.fd is not None:
                with contextlib.suppress(OSError):
                    return self._reader_entry(h)
            return h.entry
        return None

    @staticmethod
    def _reader_entry(h: Handle) -> Entry:
        """A local reader's entry: the file's modes and times now, the size and version it pinned. Made anew
        only when the fstat changed since (a read-write mount's kernel asks after every read that reached
        us, for the atime, and the atime of a file read within the day does not change)."""
        assert h.fd is not None
        st = os.fstat(h.fd)  # inline: an fstat of an open file never waits
        seen = _whole(st)
        if seen != h.seen:
            entry = entry_of_stat(st)
            if _stat_key(st) != h.pin:  # changed in place since the open: its readers' size stays theirs
                entry = replace(entry, size=h.entry.size, version=h.entry.version)
            h.entry, h.seen = entry, seen
        return h.entry

    def _known(self, key: Key) -> Entry | None:
        """The entry if it is known without I/O: an object store's root, a file being written, a fresh
        metadata cache entry."""
        backend = self.backends[key[0]] if key[0] else None
        if backend is None or (not key[1] and not backend.local):
            return DIR
        ino = self.inodes.find(key)
        if ino is not None and ino in self.open_by_inode:
            live = self._live(ino)
            if live is not None:
                return live
        if key[1] in backend.pending_dirs:
            return DIR
        return backend.cached_stat(key[1]) or None

    async def _entry(self, key: Key) -> Entry:
        return self._known(key) or await self.backends[key[0]].stat(key[1])

    async def _op(
        self, op: str, key: Key, uid: int, fn: Callable[[], Awaitable[Any]], sampled: bool = True, **fields: Any
    ) -> Any:
        """Runs one operation, records its event (errors included) and converts failures to errno."""
        t0 = time.perf_counter()
        error = None
        try:
            return await fn()
        except trio.Cancelled:
            error = STOPPED
            raise
        except FUSEError as e:
            error = f"{errno.errorcode.get(e.errno, e.errno)}: {op}"
            raise
        except Exception as e:
            error = error_text(e)
            if errno_of(e) in (errno.EIO, errno.ETIMEDOUT):
                self.errors += 1
                log.warning("%s %s/%s failed: %s", op, key[0], key[1], error)
            raise FUSEError(errno_of(e)) from None
        finally:
            if sampled and key[0]:
                if op in ("stat", "list"):
                    fields["weight"] = self.telemetry.metadata_weight
                self.telemetry.record(
                    op,
                    self.identities.name(uid),
                    uid,
                    key[0],
                    key[1],
                    latency_ms=round((time.perf_counter() - t0) * 1000, 3),
                    error=error,
                    **fields,
                )

    def _check_quota(self, user: str, backend: str) -> None:
        if self.quotas.blocked(user, backend):
            raise QuotaExceeded(f"team of {user} is over its hard quota on {backend}")

    def _revalidated(self, inode: int, entry: Entry) -> None:
        """After an open pinned a version: if the kernel's attributes (its size above all) may be of
        another, they are dropped, so its next look asks us (getattr then answers the pinned version)."""
        if self._told.get(inode) != entry.version:
            self._told.pop(inode, None)
            with contextlib.suppress(OSError):  # the kernel may have forgotten the inode meanwhile
                pyfuse3.invalidate_inode(inode, attr_only=True)  # attr_only never waits on page locks

    def _conflicts(self, h: Handle) -> bool:
        """Whether the inode's other handles hold another version than ``h`` pinned. The kernel keeps one
        page cache and one size per inode, so the two cannot share it: ``h`` gets a new inode."""
        if h.inode in self.staged:
            return False  # being written here: every handle reads the content being written
        for o in self.open_by_inode.get(h.inode, ()):
            if o.writable and o.fd is not None:  # a local writer: the same file is the same file
                if h.fd is not None and not _same_file(o.fd, h.fd):
                    return True
            elif o.entry.version != h.entry.version:
                return True
        return False

    # -- metadata --------------------------------------------------------------------------------

    async def lookup(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        key = self._child(parent_inode, name)
        sampled = self.telemetry.sampled()
        entry = None if sampled else self._known(key)

        async def go() -> pyfuse3.EntryAttributes:
            inode = self.inodes.inode(key)
            attrs = self._attrs(inode, entry or await self._entry(key))
            self.inodes.looked_up(inode)
            return attrs

        if entry is not None:
            return await go()  # the common case: no event, no I/O, nothing to convert
        return await self._op("stat", key, ctx.uid, go, sampled=sampled)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for inode, n in inode_list:
            if self.inodes.forget(inode, n):
                self._versions.pop(inode, None)
                self._told.pop(inode, None)
                self._opened.pop(inode, None)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if inode in self.open_by_inode:
            live = self._live(inode)
            if live is not None:
                return self._attrs(inode, live)
        key = self._path(inode)
        sampled = self.telemetry.sampled()
        if not sampled:
            entry = self._known(key)
            if entry is not None:
                return self._attrs(inode, entry)  # the common case: no event, no I/O, nothing to convert

        async def go() -> pyfuse3.EntryAttributes:
            return self._attrs(inode, await self._entry(key))

        return await self._op("stat", key, ctx.uid, go, sampled=sampled)

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        h = self.handles.get(fh) if fh is not None else None
        key = (h.backend.name, h.rel) if h is not None else self._path(inode)
        backend = self._backend(key)
        # The kernel has checked ownership and permissions (default_permissions) before asking.
        meta = (
            fields.update_mode or fields.update_uid or fields.update_gid or fields.update_atime or fields.update_mtime
        )

        async def go() -> pyfuse3.EntryAttributes:
            if fields.update_size:
                await self._truncate(inode, key, h, attr.st_size, ctx)
            times_only = not (fields.update_mode or fields.update_uid or fields.update_gid)
            if meta and not backend.local and not fields.update_size and not (times_only and inode in self.staged):
                # Object stores keep no modes, owners or times (docs/mount.md): refused, never ignored.
                # Times of a file being written are accepted: its upload sets them (touch of a new file).
                raise PermissionError(errno.EPERM, "object stores keep no modes, owners or times")
            if meta and backend.local:
                await backend.call(self._set_local, backend.full(key[1]), h.fd if h is not None else None, attr, fields)
                self._repin(inode)
            backend.invalidate(key[1])
            live = self._live(inode)
            return self._attrs(inode, live or await backend.stat(key[1], fresh=True))

        return await self._op("setattr", key, ctx.uid, go, sampled=False)

    @staticmethod
    def _set_local(full: str, fd: int | None, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields) -> None:
        """In a worker thread: chmod/chown/utimes of a local file (through its handle when there is one)."""
        target: int | str = fd if fd is not None else full
        if fields.update_uid or fields.update_gid:
            os.chown(target, attr.st_uid if fields.update_uid else -1, attr.st_gid if fields.update_gid else -1)
        if fields.update_mode:
            os.chmod(target, stat.S_IMODE(attr.st_mode))
        if fields.update_atime or fields.update_mtime:
            st = os.stat(target)
            os.utime(
                target,
                ns=(
                    attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                    attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns,
                ),
            )

    async def _truncate(self, inode: int, key: Key, h: Handle | None, size: int, ctx: pyfuse3.RequestContext) -> None:
        backend = self._backend(key)
        if backend.local:
            if h is not None and h.fd is not None and h.writable:
                await backend.call(os.ftruncate, h.fd, size)
            else:
                await backend.call(os.truncate, backend.full(key[1]), size)
            return
        if h is not None and h.staged is not None:  # ftruncate: part of the handle's content, uploaded at close
            self._resize(h.staged, size)
            return
        # By path: through a handle of our own, sharing any writer's content, uploaded now.
        own = await self.open(inode, os.O_WRONLY, ctx, internal=True)
        try:
            s = self.handles[own.fh].staged
            assert s is not None
            self._resize(s, size)
            await self.flush(own.fh)
        finally:
            await self.release(own.fh)

    @staticmethod
    def _resize(s: Staged, size: int) -> None:
        os.ftruncate(s.fd, size)  # a local temp file: no need for a thread
        s.size, s.mtime = size, time.time()
        s.changes += 1

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        # Object stores have no capacity; report a large, stable one so tools do not refuse to write.
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 40
        s.f_files = s.f_ffree = s.f_favail = 1 << 32
        s.f_namemax = NAME_MAX
        return s

    # -- directories -----------------------------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        self._path(inode)
        fh = self._fh()
        self.dirs[fh] = DirHandle(inode, ctx.uid)
        return fh

    async def _listing(self, d: DirHandle) -> list[tuple[bytes, Key, Entry]]:
        key = self._path(d.inode)
        if d.inode == pyfuse3.ROOT_INODE:
            return [(os.fsencode(n), (n, ""), DIR) for n in sorted(self.backends)]
        backend = self.backends[key[0]]

        async def go() -> list[tuple[bytes, Key, Entry]]:
            entries = await backend.list(key[1])
            return [(os.fsencode(n), (key[0], _join(key[1], n)), e) for n, e in sorted(entries.items())]

        return await self._op("list", key, d.uid, go, sampled=self.telemetry.sampled())

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        d = self.dirs[fh]
        if d.entries is None or start_id == 0:
            d.entries = await self._listing(d)
        for i in range(start_id, len(d.entries)):
            name, key, entry = d.entries[i]
            inode = self.inodes.inode(key)
            if inode in self.open_by_inode:
                entry = self._live(inode) or entry
            if not pyfuse3.readdir_reply(token, name, self._attrs(inode, entry), i + 1):
                break
            self.inodes.looked_up(inode)

    async def releasedir(self, fh: int) -> None:
        self.dirs.pop(fh, None)

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if parent_inode == pyfuse3.ROOT_INODE:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> pyfuse3.EntryAttributes:
            self._check_quota(self.identities.name(ctx.uid), key[0])
            entry = DIR
            if backend.local:
                full = backend.full(key[1])
                await backend.call(_mkdir_local, full, stat.S_IMODE(mode) & ~ctx.umask, self._owner(ctx))
                entry = entry_of_stat(await backend.call(os.stat, full))
            else:
                try:
                    await self._entry(key)
                    raise FileExistsError(key[1])
                except FileNotFoundError:
                    backend.pending_dirs.add(key[1])
            backend.invalidate(key[1])
            inode = self.inodes.inode(key)
            self.inodes.looked_up(inode)
            return self._attrs(inode, entry)

        return await self._op("mkdir", key, ctx.uid, go)

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        if parent_inode == pyfuse3.ROOT_INODE:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> None:
            if backend.local:
                try:
                    await backend.call(os.rmdir, backend.full(key[1]))
                finally:
                    backend.invalidate(key[1])
            else:
                if not (await self._entry(key)).is_dir:
                    raise NotADirectoryError(key[1])
                backend.invalidate(key[1])
                if await backend.list(key[1]):
                    raise OSError(errno.ENOTEMPTY, "directory not empty")
                backend.pending_dirs.discard(key[1])
                backend.invalidate(key[1])
            self.inodes.detach(key)

        await self._op("rmdir", key, ctx.uid, go)

    # -- files -----------------------------------------------------------------------------------

    def _register(self, h: Handle) -> int:
        fh = self._fh()
        self.handles[fh] = h
        self.open_by_inode.setdefault(h.inode, []).append(h)
        return fh

    async def open(
        self, inode: int, flags: int, ctx: pyfuse3.RequestContext, internal: bool = False
    ) -> pyfuse3.FileInfo:
        if self.inodes.current(inode) is None:  # unknown, or detached from its name
            raise FUSEError(errno.ESTALE)  # a dentry of a detached inode: the kernel looks the name up again
        key = self._path(inode)
        if not key[1]:
            raise FUSEError(errno.EISDIR)
        write = flags & os.O_ACCMODE != os.O_RDONLY
        user = self.identities.name(ctx.uid)

        async def go() -> pyfuse3.FileInfo:
            backend = self._backend(key)
            if write:
                self._check_quota(user, key[0])
            h = Handle(inode, backend, key[1], DIR, ctx.uid, user, writable=write, append=bool(flags & os.O_APPEND))
            if backend.local:
                await self._open_local(h, flags)
                backend.remember(key[1], h.entry)
            else:
                # Close-to-open: every open asks the store which version is there now, unless the file
                # is open for writing here: then its writers' content is the file.
                s = self.staged.get(inode)
                h.entry = _staged_entry(s) if s else await backend.stat(key[1], fresh=True)
                if h.entry.is_dir:
                    raise IsADirectoryError(key[1])
            if not internal and self._conflicts(h):
                # Another version is open here: this open retries on a new inode (the kernel retries an
                # open that failed with ESTALE once, looking the name up again); the open handles keep
                # the old inode, detached from the name as if the file had been replaced.
                if h.fd is not None:
                    os.close(h.fd)
                self.inodes.detach(key)
                raise FUSEError(errno.ESTALE)
            if write and not backend.local:
                h.staged = await self._stage(inode, backend, key[1], h.entry, bool(flags & os.O_TRUNC))
            self._revalidated(inode, _staged_entry(h.staged) if h.staged else h.entry)
            fh = self._register(h)
            # The kernel may keep its page cache only if the file is the version it cached last time.
            keep = h.kernel_cached = not write and self._versions.get(inode) == h.entry.version
            self._versions[inode] = "" if write else h.entry.version
            return pyfuse3.FileInfo(fh=fh, keep_cache=keep)

        # The open itself is not an event: the handle's reads or writes are.
        return await self._op("open", key, ctx.uid, go, sampled=False)

    async def _open_local(self, h: Handle, flags: int) -> None:
        """Opens the file itself: its fd pins the inode (a replaced file keeps reading as it was) and its
        fstat, inline and cheap, revalidates the metadata cache on every open."""
        root_fd = h.backend.root_fd
        fd = None if h.writable else _open_nowait(root_fd, h.rel)
        if fd is None:
            mode = flags & (os.O_ACCMODE | os.O_APPEND | os.O_TRUNC) if h.writable else os.O_RDONLY
            fd = await h.backend.call(open_beneath, root_fd, h.rel, mode)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(h.rel)
        except BaseException:
            os.close(fd)
            raise
        seen = _whole(st)
        last = self._opened.get(h.inode)
        entry = last[1] if last is not None and last[0] == seen else entry_of_stat(st)
        self._opened[h.inode] = seen, entry
        h.fd, h.entry, h.pinned_fd, h.pin, h.seen = fd, entry, not h.writable, _stat_key(st), seen

    async def _stage(self, inode: int, backend: Backend, rel: str, entry: Entry, truncate: bool) -> Staged:
        """The inode's shared write content: a writer already open shares its own, else the object's
        bytes (none if truncated) in a new temp file."""
        s = self.staged.get(inode)
        if s is None:
            fd, path = tempfile.mkstemp(dir=self.work_dir, prefix="w-")
            new = Staged(path, fd, entry)
            try:
                if entry.size and not truncate:
                    await backend.call(backend.fs.get_file, backend.full(rel), path, size=entry.size)
                    new.size = os.fstat(fd).st_size
                new.uploaded = 0  # as the backend has it
            except BaseException:
                os.close(fd)
                os.unlink(path)
                raise
            s = self.staged.get(inode)  # another writer may have staged it meanwhile
            if s is None:
                s = self.staged[inode] = new
            else:
                os.close(fd)
                os.unlink(path)
            if truncate and entry.size:
                s.changes += 1  # the backend still has the old bytes
        if truncate and s.size:
            self._resize(s, 0)
        s.handles += 1
        return s

    def _unstage(self, h: Handle) -> None:
        s, h.staged = h.staged, None
        if s is not None:
            s.handles -= 1
            if s.handles == 0:
                # Readers of the content read on from it as it was last written (the kernel's pages are
                # of it too), never from the backend under a version label that is not theirs.
                for r in self.open_by_inode.get(h.inode, ()):
                    if r.fd is None and r.staged is None and r is not h:
                        r.fd, r.entry = os.dup(s.fd), _staged_entry(s)
                os.close(s.fd)
                os.unlink(s.path)
                if self.staged.get(h.inode) is s:
                    del self.staged[h.inode]

    def _repin(self, inode: int | None) -> None:
        """After this mount's own unlink, rename or chmod of a local file: its ctime moved, its content did
        not; its open readers' pinned version follows, so they read on (a change by anyone else is ESTALE)."""
        for h in self.open_by_inode.get(inode, ()) if inode is not None else ():
            if h.pinned_fd and h.fd is not None:
                st = os.fstat(h.fd)
                key = _stat_key(st)
                if (key[0], key[1], key[3]) == (h.pin[0], h.pin[1], h.pin[3]):  # all but ctime
                    h.entry, h.pin, h.seen = entry_of_stat(st), key, _whole(st)

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        if parent_inode == pyfuse3.ROOT_INODE:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        key = self._child(parent_inode, name)
        user = self.identities.name(ctx.uid)

        async def go() -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
            self._check_quota(user, key[0])
            backend = self._backend(key)
            h = Handle(0, backend, key[1], DIR, ctx.uid, user, writable=True, append=bool(flags & os.O_APPEND))
            if backend.local:
                h.fd = await backend.call(
                    _create_local, backend.root_fd, key[1], flags, stat.S_IMODE(mode) & ~ctx.umask, self._owner(ctx)
                )
                h.entry = entry_of_stat(os.fstat(h.fd))
                backend.invalidate(key[1])
                inode = h.inode = self.inodes.inode(key)
            else:
                h.entry = Entry(False, 0, time.time())
                inode = h.inode = self.inodes.inode(key)
                h.staged = await self._stage(inode, backend, key[1], h.entry, truncate=True)
                h.staged.changes += 1  # an empty new file must still appear on the backend
            fh = self._register(h)
            self._versions[inode] = ""
            self.inodes.looked_up(inode)
            return pyfuse3.FileInfo(fh=fh), self._attrs(inode, self._live(inode) or h.entry)

        return await self._op("create", key, ctx.uid, go)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handles[fh]
        t0 = time.perf_counter()
        hit = False
        error = None
        data = b""
        try:
            # Content being written here is read as written (as on a local disk), by every handle.
            s = h.staged or (self.staged.get(h.inode) if h.fd is None else None)
            fd = s.fd if s is not None else h.fd
            if fd is not None:
                cached = _pread_nowait(fd, size, off, s.size if s is not None else h.entry.size)
                data = cached if cached is not None else await h.backend.call(os.pread, fd, size, off)
                if h.pinned_fd and _stat_key(os.fstat(fd)) != h.pin:
                    # Changed in place since the open: the bytes may mix two versions. (A file replaced
                    # by a rename keeps its inode for this fd: it reads on as it was.)
                    raise VersionChanged(h.rel, h.entry.version)
            else:
                data, hit = await h.backend.call(self._cached_read, h, off, size)
            return data
        except trio.Cancelled:
            error = STOPPED
            raise
        except Exception as e:
            error = error_text(e)
            raise FUSEError(errno_of(e)) from None
        finally:
            now = time.time()
            h.reads.add(len(data), hit, (time.perf_counter() - t0) * 1000, now, error)
            if h.reads.due(now, self.flush_interval):
                self._emit(h, "read")

    def _cached_read(self, h: Handle, off: int, size: int) -> tuple[bytes, bool]:
        """In a worker thread: the bytes through the block cache."""
        full = h.backend.full(h.rel)
        fs = h.backend.fs

        kind, version = h.backend.kind, h.entry.version

        def fetch(start: int, end: int) -> bytes:
            # Pinned to the version opened: bytes of any other raise VersionChanged (ESTALE), so a
            # handle never mixes versions and a cache block always holds the version of its key.
            return kind.read_range(fs, full, start, end, version)

        return self.cache.read(h.backend.name, h.rel, version, h.entry.size, off, size, fetch, h.memo)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        h = self.handles[fh]
        if not h.writable:
            raise FUSEError(errno.EBADF)
        t0 = time.perf_counter()
        error = None
        n = 0
        try:
            self._check_quota(h.user, h.backend.name)
            s = h.staged
            if s is not None:
                if h.append:
                    off = s.size  # the kernel's offset is its idea of the size, stale if another node wrote
                n = await h.backend.call(os.pwrite, s.fd, buf, off)
                s.size, s.mtime = max(s.size, off + n), time.time()
                s.changes += 1
            else:
                assert h.fd is not None
                n = await h.backend.call(os.pwrite, h.fd, buf, off)  # an O_APPEND fd appends whatever off says
            return n
        except trio.Cancelled:
            error = STOPPED
            raise
        except Exception as e:
            error = error_text(e)
            raise FUSEError(errno_of(e)) from None
        finally:
            now = time.time()
            h.writes.add(n, False, (time.perf_counter() - t0) * 1000, now, error)

    async def flush(self, fh: int) -> None:
        if self.read_only:
            # Nothing is ever uploaded: ENOSYS makes the kernel stop sending FLUSH (one request less per close).
            raise FUSEError(errno.ENOSYS)
        h = self.handles[fh]
        if h.staged is not None and h.staged.dirty:
            await self._upload(h)

    async def fsync(self, fh: int, datasync: bool) -> None:
        h = self.handles[fh]
        if h.staged is not None:
            if h.staged.dirty:
                await self._upload(h)
        elif h.fd is not None and h.writable:
            try:
                await h.backend.call(os.fdatasync if datasync else os.fsync, h.fd)
            except Exception as e:
                raise FUSEError(errno_of(e)) from None

    async def _upload(self, h: Handle) -> None:
        """Uploads the staged content to the file's current name (nothing once it was unlinked); the
        handle's write window becomes an event either way."""
        s = h.staged
        assert s is not None
        key = self.inodes.current(h.inode)
        if key is None:
            return  # unlinked while open: its content goes away with its last handle
        changes = s.changes
        try:
            await h.backend.call(h.backend.fs.put_file, s.path, h.backend.full(key[1]), size=s.size)
            s.uploaded = max(s.uploaded, changes)
        except trio.Cancelled:
            h.writes.error = STOPPED
            raise
        except Exception as e:
            h.writes.error = error_text(e)
            raise FUSEError(errno_of(e)) from None
        finally:
            h.backend.invalidate(key[1])
            self._emit(h, "write")

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh)
        try:
            if h.staged is not None and h.staged.dirty:
                try:
                    await self._upload(h)
                except FUSEError:
                    pass  # recorded in the write event; release has no caller to tell (fsync and close do)
        finally:
            if h.kernel_cached and not h.reads_seen and not h.reads.count:
                # Served wholly by the kernel page cache: still an access (who, what, when), bytes unknown.
                h.reads.add(0, True, 0.0, time.time())
            self._emit(h, "read")
            self._emit(h, "write")
            if h.fd is not None:
                os.close(h.fd)
            self._unstage(h)
            handles = self.open_by_inode.get(h.inode, [])
            if h in handles:
                handles.remove(h)
            if not handles:
                self.open_by_inode.pop(h.inode, None)

    def _emit(self, h: Handle, op: str) -> None:
        w = h.reads if op == "read" else h.writes
        if w.error and not w.count:
            w.add(0, False, 0.0, time.time(), w.error)  # a failed upload is the close's write
        if w.count > 0:
            self.telemetry.record_window(op, h.user, h.uid, h.backend.name, h.rel, w)
        if op == "read":
            h.reads_seen += w.count
            h.reads = Window()
        else:
            h.writes = Window()

    def close_windows(self) -> None:
        """Emits every open handle's windows (the mount is going away; the kernel will release nothing)."""
        for h in list(self.handles.values()):
            self._emit(h, "read")
            self._emit(h, "write")

    async def flush_windows(self) -> None:
        """Emits read/write windows of long-open handles every flush interval (runs in the mount's nursery)."""
        while True:
            await trio.sleep(self.flush_interval / 2)
            now = time.time()
            for h in list(self.handles.values()):
                if h.reads.due(now, self.flush_interval):
                    self._emit(h, "read")
                if h.writes.due(now, self.flush_interval):
                    self._emit(h, "write")

    async def _keep_open_copies(self, inode: int | None, backend: Backend, rel: str) -> None:
        """Before an object goes away (unlink, or replaced by a rename): its open readers get a private
        copy of the version they opened, so they read on as they would from an unlinked local file."""
        readers = (
            [h for h in self.open_by_inode.get(inode, ()) if h.fd is None and h.staged is None]
            if inode is not None and inode not in self.staged
            else []
        )  # those read the staged content
        if not readers:
            return
        by_version: dict[str, list[Handle]] = {}
        for h in readers:
            by_version.setdefault(h.entry.version, []).append(h)
        for handles in by_version.values():
            entry = handles[0].entry
            fd, path = tempfile.mkstemp(dir=self.work_dir, prefix="u-")
            os.unlink(path)  # the fds keep it; nothing is left behind
            try:
                await backend.call(_copy_pinned, backend, rel, entry, fd, size=entry.size)
                for h in handles:
                    h.fd = os.dup(fd)
            except VersionChanged:
                pass  # already another version: these readers get ESTALE, as they would have anyway
            finally:
                os.close(fd)

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> None:
            ino = self.inodes.find(key)
            if backend.local:
                try:
                    await backend.call(os.unlink, backend.full(key[1]))
                finally:
                    backend.invalidate(key[1])
                self._repin(ino)
            else:
                if (await self._entry(key)).is_dir:
                    raise IsADirectoryError(key[1])
                await self._keep_open_copies(ino, backend, key[1])
                try:
                    await backend.call(backend.fs.rm_file, backend.full(key[1]))
                except FileNotFoundError:
                    if ino not in self.staged:
                        raise  # else: created through the mount and not uploaded yet
                finally:
                    backend.invalidate(key[1])
            self.inodes.detach(key)

        await self._op("unlink", key, ctx.uid, go)

    # Refused on every backend (docs/mount.md): hard links, symlinks, special files.
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise FUSEError(errno.EPERM)

    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise FUSEError(errno.EPERM)

    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if not stat.S_ISREG(mode):
            raise FUSEError(errno.EPERM)  # fifos, sockets, devices
        fi, attrs = await self.create(parent_inode, name, mode, os.O_WRONLY | os.O_EXCL, ctx)
        await self.release(fi.fh)
        return attrs

    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        src, dst = self._child(parent_inode_old, name_old), self._child(parent_inode_new, name_new)
        if not src[1] or not dst[1]:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        if src[0] != dst[0]:
            raise FUSEError(errno.EXDEV)  # between backends is a move job, not a rename
        if flags & ~pyfuse3.RENAME_NOREPLACE:
            raise FUSEError(errno.EINVAL)  # RENAME_EXCHANGE, RENAME_WHITEOUT
        backend = self._backend(src)

        async def go() -> None:
            self._check_quota(self.identities.name(ctx.uid), src[0])
            entry = await self._entry(src)
            try:
                target: Entry | None = await self._entry(dst)
            except FileNotFoundError:
                target = None
            if target is not None and flags & pyfuse3.RENAME_NOREPLACE:
                raise FileExistsError(dst[1])
            try:
                if backend.local:
                    await backend.call(os.rename, backend.full(src[1]), backend.full(dst[1]))
                else:
                    await self._rename_object(backend, src[1], dst[1], entry, target)
            finally:
                backend.invalidate_tree(src[1])
                backend.invalidate_tree(dst[1])
            self.inodes.move(src, dst, entry.is_dir)
            for h in self.handles.values():  # open files follow: their close uploads to the new name
                k = self.inodes.current(h.inode)
                if k is not None:
                    h.rel = k[1]
                if h.pinned_fd:
                    self._repin(h.inode)

        await self._op("rename", src, ctx.uid, go)

    async def _rename_object(self, backend: Backend, src: str, dst: str, entry: Entry, target: Entry | None) -> None:
        """Object stores rename by copy + delete (gcsfs's moveTo is not universally served), with the
        checks a POSIX rename makes."""
        full_src, full_dst = backend.full(src), backend.full(dst)
        if target is not None:
            if entry.is_dir and not target.is_dir:
                raise NotADirectoryError(dst)
            if target.is_dir and not entry.is_dir:
                raise IsADirectoryError(dst)
            if target.is_dir:
                backend.invalidate(dst)
                if await backend.list(dst):
                    raise OSError(errno.ENOTEMPTY, f"directory not empty: {dst}")
                backend.pending_dirs.discard(dst)
            else:
                await self._keep_open_copies(self.inodes.find((backend.name, dst)), backend, dst)
        if entry.is_dir:
            backend.invalidate(src)
            if await backend.list(src):
                await backend.call(lambda: backend.fs.copy(full_src, full_dst, recursive=True))
                await backend.call(lambda: backend.fs.rm(full_src, recursive=True))
            backend.move_pending(src, dst)
            return
        try:
            await backend.call(backend.fs.copy, full_src, full_dst, size=entry.size)
        except FileNotFoundError:
            if self.inodes.find((backend.name, src)) not in self.staged:
                raise
            return  # created through the mount and not uploaded yet: its close uploads to the new name
        await backend.call(backend.fs.rm_file, full_src)
