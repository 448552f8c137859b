"""The mount: pyfuse3 operations over every configured backend, ``MOUNT/<backend>/<path>``.

All state here is touched only by the trio thread; blocking backend and disk calls go to worker
threads (``Backend.call``, one capacity limit). Object-store prefixes are directories. Writes go
to a local temp file and are uploaded on flush/release. Every failure becomes an errno for the
caller and the ``error`` of the operation's event; nothing here may take the mount down.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

import pyfuse3
import trio
from pyfuse3 import FUSEError

from warpdrive.schemas.storage import DIR, Entry

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
    """Inode numbers for paths, never reused; entries go when the kernel forgets them."""

    def __init__(self) -> None:
        self._keys: dict[int, Key] = {pyfuse3.ROOT_INODE: ROOT}
        self._inodes: dict[Key, int] = {ROOT: pyfuse3.ROOT_INODE}
        self._lookups: Counter[int] = Counter()
        self._next = pyfuse3.ROOT_INODE + 1

    def key(self, inode: int) -> Key:
        try:
            return self._keys[inode]
        except KeyError:
            raise FUSEError(errno.ESTALE) from None

    def inode(self, key: Key) -> int:
        ino = self._inodes.get(key)
        if ino is None:
            ino, self._next = self._next, self._next + 1
            self._inodes[key] = ino
            self._keys[ino] = key
        return ino

    def looked_up(self, inode: int) -> None:
        self._lookups[inode] += 1

    def forget(self, inode: int, n: int) -> None:
        self._lookups[inode] -= n
        if self._lookups[inode] <= 0 and inode != pyfuse3.ROOT_INODE:
            del self._lookups[inode]
            key = self._keys.pop(inode, None)
            if key is not None and self._inodes.get(key) == inode:
                del self._inodes[key]

    def move(self, old: Key, new: Key) -> None:
        """After a rename: the inode follows the object; inodes under a renamed directory go stale."""
        backend, rel = old
        for k in [k for k in self._inodes if k[0] == backend and k[1].startswith(rel + "/")]:
            del self._inodes[k]
        self._inodes.pop(new, None)
        ino = self._inodes.pop(old, None)
        if ino is not None:
            self._inodes[new] = ino
            self._keys[ino] = new


@dataclass(eq=False)
class Handle:
    """One open file: who opened it (read/write handlers get no request context), and its windows."""

    inode: int
    backend: Backend
    rel: str
    entry: Entry
    uid: int
    user: str
    fd: int | None = None  # local backends: read straight from the file
    tmp: str | None = None  # writable handles: the content being written, uploaded on flush
    tmp_fd: int | None = None
    size: int = 0
    dirty: bool = False
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
    buffer measured 4× slower than ``os.pread`` here.) A range cached only at its ends is rare: it
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
_SYS_OPENAT2 = ctypes.c_long(437)  # one number on every Linux architecture (added after the table unification)
_AT_FDCWD = ctypes.c_long(-100)
_READ_CACHED = _OpenHow(os.O_RDONLY | os.O_CLOEXEC, 0, 0x20)  # RESOLVE_CACHED
_READ_CACHED_SIZE = ctypes.c_long(ctypes.sizeof(_OpenHow))


def _open_nowait(path: str) -> int | None:
    """A read-only fd, opened inline, if the kernel can resolve ``path`` from its dentry cache; else None.

    ``openat2(RESOLVE_CACHED)`` (Linux 5.12) fails with EAGAIN instead of doing I/O or network
    revalidation, so it never waits for a disk or network lookup; the caller then opens in a worker
    thread. Saves the thread hand-off, most of a warm open's cost. Any failure (EAGAIN, ENOENT,
    ENOSYS under a seccomp filter) takes the slow path, which reports the real error.
    """
    fd: int = _LIBC.syscall(_SYS_OPENAT2, _AT_FDCWD, os.fsencode(path), ctypes.byref(_READ_CACHED), _READ_CACHED_SIZE)
    return fd if fd >= 0 else None


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class WarpFS(pyfuse3.Operations):
    enable_writeback_cache = False  # the backend is the truth; other writers may change it

    def __init__(self, backends: Sequence[Backend], cache: BlockCache, collector: Collector, identities: Identities,
                 quotas: Quotas, work_dir: Path, ttl: float, flush_interval: float, read_only: bool = False) -> None:
        super().__init__()
        self.read_only = read_only  # mounted "ro": the kernel refuses every write before it reaches us
        self.backends = {b.name: b for b in backends}
        self.cache = cache
        self.telemetry = collector
        self.identities = identities
        self.quotas = quotas
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self.flush_interval = flush_interval
        self.inodes = Inodes()
        self.handles: dict[int, Handle] = {}
        self.dirs: dict[int, DirHandle] = {}
        self.writing: dict[Key, Handle] = {}  # files open for writing: their size is the temp file's
        self._versions: dict[int, str] = {}  # inode → version the kernel page cache holds
        self._next_fh = 1
        self.uid, self.gid = os.getuid(), os.getgid()
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
        backend_name, rel = self.inodes.key(parent)
        if raw == b"." or raw == b"..":
            raise FUSEError(errno.EINVAL)
        if parent == pyfuse3.ROOT_INODE:
            name = os.fsdecode(raw)
            if name not in self.backends:
                raise FUSEError(errno.ENOENT)
            return (name, "")
        return (backend_name, _join(rel, self._name(self.backends[backend_name], raw)))

    def _attrs(self, inode: int, entry: Entry) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.generation = 0
        a.entry_timeout = a.attr_timeout = self.ttl
        # Object stores have no permissions of their own: their credentials and the quotas decide.
        if entry.is_dir:
            a.st_mode, a.st_nlink = stat.S_IFDIR | (0o777 if entry.mode is None else entry.mode), 2
        else:
            a.st_mode, a.st_nlink = stat.S_IFREG | (0o666 if entry.mode is None else entry.mode), 1
        a.st_size = entry.size
        a.st_uid = self.uid if entry.uid is None else entry.uid
        a.st_gid = self.gid if entry.gid is None else entry.gid
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = int(entry.mtime * 1e9)
        a.st_blksize = 1 << 17
        a.st_blocks = (entry.size + 511) // 512
        return a

    def _known(self, key: Key) -> Entry | None:
        """The entry if it is known without I/O: the root, a file being written, a fresh metadata cache entry."""
        if not key[1]:
            return DIR
        h = self.writing.get(key)
        if h is not None:
            return Entry(False, h.size, time.time(), "writing")
        backend = self.backends[key[0]]
        if key[1] in backend.pending_dirs:
            return DIR
        return backend.cached_stat(key[1]) or None

    async def _entry(self, key: Key) -> Entry:
        return self._known(key) or await self.backends[key[0]].stat(key[1])

    async def _op(self, op: str, key: Key, uid: int, fn: Callable[[], Awaitable[Any]], sampled: bool = True,
                  **fields: Any) -> Any:
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
            if errno_of(e) == errno.EIO:
                self.errors += 1
                log.warning("%s %s/%s failed: %s", op, key[0], key[1], error)
            raise FUSEError(errno_of(e)) from None
        finally:
            if sampled and key[0]:
                if op in ("stat", "list"):
                    fields["weight"] = self.telemetry.metadata_weight
                self.telemetry.record(op, self.identities.name(uid), uid, key[0], key[1],
                                      latency_ms=round((time.perf_counter() - t0) * 1000, 3), error=error, **fields)

    def _check_quota(self, user: str, backend: str) -> None:
        if self.quotas.blocked(user, backend):
            raise QuotaExceeded(f"team of {user} is over its hard quota on {backend}")

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
            self.inodes.forget(inode, n)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        key = self.inodes.key(inode)
        sampled = self.telemetry.sampled()
        if not sampled:
            entry = self._known(key)
            if entry is not None:
                return self._attrs(inode, entry)  # the common case: no event, no I/O, nothing to convert

        async def go() -> pyfuse3.EntryAttributes:
            return self._attrs(inode, await self._entry(key))

        return await self._op("stat", key, ctx.uid, go, sampled=sampled)

    async def setattr(self, inode: int, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields,
                      fh: int | None, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        # Only size changes mean anything to an object store; modes and times are accepted and ignored.
        if fields.update_size:
            h = self.handles.get(fh) if fh is not None else None
            if h is None or h.tmp is None:
                own = await self.open(inode, os.O_WRONLY, ctx)
                try:
                    await self._truncate(self.handles[own.fh], attr.st_size)
                    await self.flush(own.fh)
                finally:
                    await self.release(own.fh)
            else:
                await self._truncate(h, attr.st_size)
        return await self.getattr(inode, ctx)

    async def _truncate(self, h: Handle, size: int) -> None:
        assert h.tmp_fd is not None
        try:
            await h.backend.call(os.ftruncate, h.tmp_fd, size)
        except OSError as e:
            raise FUSEError(e.errno or errno.EIO) from None
        h.size, h.dirty = size, True

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
        self.inodes.key(inode)
        fh = self._fh()
        self.dirs[fh] = DirHandle(inode, ctx.uid)
        return fh

    async def _listing(self, d: DirHandle) -> list[tuple[bytes, Key, Entry]]:
        key = self.inodes.key(d.inode)
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
            if not pyfuse3.readdir_reply(token, name, self._attrs(inode, entry), i + 1):
                break
            self.inodes.looked_up(inode)

    async def releasedir(self, fh: int) -> None:
        self.dirs.pop(fh, None)

    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if parent_inode == pyfuse3.ROOT_INODE:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> pyfuse3.EntryAttributes:
            self._check_quota(self.identities.name(ctx.uid), key[0])
            if backend.local:
                await backend.call(os.mkdir, backend.full(key[1]))
            else:
                try:
                    await self._entry(key)
                    raise FileExistsError(key[1])
                except FileNotFoundError:
                    backend.pending_dirs.add(key[1])
            backend.invalidate(key[1])
            inode = self.inodes.inode(key)
            self.inodes.looked_up(inode)
            return self._attrs(inode, DIR)

        return await self._op("mkdir", key, ctx.uid, go)

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> None:
            if not (await self._entry(key)).is_dir:
                raise NotADirectoryError(key[1])
            backend.invalidate(key[1])
            if await backend.list(key[1]):
                raise OSError(errno.ENOTEMPTY, "directory not empty")
            if backend.local:
                await backend.call(os.rmdir, backend.full(key[1]))
            backend.pending_dirs.discard(key[1])
            backend.invalidate(key[1])

        await self._op("rmdir", key, ctx.uid, go)

    # -- files -----------------------------------------------------------------------------------

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        key = self.inodes.key(inode)
        if not key[1]:
            raise FUSEError(errno.EISDIR)
        write = flags & os.O_ACCMODE != os.O_RDONLY
        user = self.identities.name(ctx.uid)

        async def go() -> pyfuse3.FileInfo:
            backend = self._backend(key)
            if write:
                self._check_quota(user, key[0])
            entry = await self._entry(key)
            if entry.is_dir:
                raise IsADirectoryError(key[1])
            h = Handle(inode, backend, key[1], entry, ctx.uid, user, size=entry.size)
            fh = self._fh()
            if write:
                await self._start_write(h, download=not flags & os.O_TRUNC)
            elif backend.local:
                full = backend.full(key[1])
                h.fd = _open_nowait(full)
                if h.fd is None:
                    h.fd = await backend.call(os.open, full, os.O_RDONLY | os.O_CLOEXEC)
            self.handles[fh] = h
            # The kernel may keep its page cache only if the object is the one it cached last time.
            keep = h.kernel_cached = not write and self._versions.get(inode) == entry.version
            self._versions[inode] = "" if write else entry.version
            return pyfuse3.FileInfo(fh=fh, keep_cache=keep)

        # The open itself is not an event: the handle's reads or writes are.
        return await self._op("open", key, ctx.uid, go, sampled=False)

    async def _start_write(self, h: Handle, download: bool) -> None:
        fd, h.tmp = tempfile.mkstemp(dir=self.work_dir, prefix="w-")
        h.tmp_fd = fd
        key = (h.backend.name, h.rel)
        try:
            if download and h.entry.size:
                await h.backend.call(h.backend.fs.get_file, h.backend.full(h.rel), h.tmp)
                h.size = os.fstat(fd).st_size
            else:
                h.size, h.dirty = 0, not download
        except BaseException:
            self._discard_tmp(h)
            raise
        self.writing[key] = h

    def _discard_tmp(self, h: Handle) -> None:
        if h.tmp_fd is not None:
            os.close(h.tmp_fd)
            os.unlink(h.tmp)  # type: ignore[arg-type]
            h.tmp_fd = h.tmp = None
        key = (h.backend.name, h.rel)
        if self.writing.get(key) is h:
            del self.writing[key]

    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: pyfuse3.RequestContext) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        if parent_inode == pyfuse3.ROOT_INODE:
            raise FUSEError(errno.EACCES)  # backends are fixed by the configuration
        key = self._child(parent_inode, name)
        user = self.identities.name(ctx.uid)

        async def go() -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
            self._check_quota(user, key[0])
            backend = self._backend(key)
            inode = self.inodes.inode(key)
            h = Handle(inode, backend, key[1], Entry(False), ctx.uid, user)
            await self._start_write(h, download=False)
            h.dirty = True  # an empty new file must still appear on the backend
            fh = self._fh()
            self.handles[fh] = h
            self._versions[inode] = ""
            self.inodes.looked_up(inode)
            return pyfuse3.FileInfo(fh=fh), self._attrs(inode, Entry(False, 0, time.time()))

        return await self._op("create", key, ctx.uid, go)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handles[fh]
        t0 = time.perf_counter()
        hit = False
        error = None
        data = b""
        try:
            fd = h.tmp_fd if h.tmp_fd is not None else h.fd
            if fd is not None:
                cached = _pread_nowait(fd, size, off, h.size if h.tmp_fd is not None else h.entry.size)
                data = cached if cached is not None else await h.backend.call(os.pread, fd, size, off)
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

        def fetch(start: int, end: int) -> bytes:
            return fs.cat_file(full, start=start, end=end)

        return self.cache.read(h.backend.name, h.rel, h.entry.version, h.entry.size, off, size, fetch, h.memo)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        h = self.handles[fh]
        if h.tmp_fd is None:
            raise FUSEError(errno.EBADF)
        t0 = time.perf_counter()
        error = None
        n = 0
        try:
            self._check_quota(h.user, h.backend.name)
            n = await h.backend.call(os.pwrite, h.tmp_fd, buf, off)
            h.size = max(h.size, off + n)
            h.dirty = True
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
        if h.tmp is not None and h.dirty:
            await self._upload(h)

    async def _upload(self, h: Handle) -> None:
        """Uploads the temp file; the handle's write window becomes an event either way."""
        try:
            await h.backend.call(h.backend.fs.put_file, h.tmp, h.backend.full(h.rel))
            h.dirty = False
        except trio.Cancelled:
            h.writes.error = STOPPED
            raise
        except Exception as e:
            h.writes.error = error_text(e)
            raise FUSEError(errno_of(e)) from None
        finally:
            h.backend.invalidate(h.rel)
            self._emit(h, "write")

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh)
        try:
            if h.tmp is not None and h.dirty:
                try:
                    await self._upload(h)
                except FUSEError:
                    pass  # recorded in the write event; release has no caller to tell
        finally:
            if h.kernel_cached and not h.reads_seen and not h.reads.count:
                # Served wholly by the kernel page cache: still an access (who, what, when), bytes unknown.
                h.reads.add(0, True, 0.0, time.time())
            self._emit(h, "read")
            self._emit(h, "write")
            if h.fd is not None:
                os.close(h.fd)
            self._discard_tmp(h)

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

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        key = self._child(parent_inode, name)
        backend = self._backend(key)

        async def go() -> None:
            if (await self._entry(key)).is_dir:
                raise IsADirectoryError(key[1])
            try:
                await backend.call(backend.fs.rm_file, backend.full(key[1]))
            finally:
                backend.invalidate(key[1])

        await self._op("unlink", key, ctx.uid, go)

    async def rename(self, parent_inode_old: int, name_old: bytes, parent_inode_new: int, name_new: bytes,
                     flags: int, ctx: pyfuse3.RequestContext) -> None:
        src, dst = self._child(parent_inode_old, name_old), self._child(parent_inode_new, name_new)
        if src[0] != dst[0]:
            raise FUSEError(errno.EXDEV)  # between backends is a move job, not a rename
        if not src[1] or not dst[1] or flags & ~pyfuse3.RENAME_NOREPLACE:
            raise FUSEError(errno.EINVAL)
        backend = self._backend(src)

        async def go() -> None:
            self._check_quota(self.identities.name(ctx.uid), src[0])
            entry = await self._entry(src)
            if flags & pyfuse3.RENAME_NOREPLACE:
                try:
                    await self._entry(dst)
                    raise FileExistsError(dst[1])
                except FileNotFoundError:
                    pass
            try:
                if backend.local:
                    await backend.call(os.rename, backend.full(src[1]), backend.full(dst[1]))
                else:
                    # Object stores rename by copy + delete (gcsfs's moveTo is not universally served).
                    full_src, full_dst = backend.full(src[1]), backend.full(dst[1])
                    if entry.is_dir:
                        if await backend.list(src[1]):
                            await backend.call(lambda: backend.fs.copy(full_src, full_dst, recursive=True))
                            await backend.call(lambda: backend.fs.rm(full_src, recursive=True))
                        if src[1] in backend.pending_dirs:
                            backend.pending_dirs.discard(src[1])
                            backend.pending_dirs.add(dst[1])
                    else:
                        await backend.call(backend.fs.copy, full_src, full_dst)
                        await backend.call(backend.fs.rm_file, full_src)
            finally:
                backend.invalidate(src[1])
                backend.invalidate(dst[1])
            self.inodes.move(src, dst)

        await self._op("rename", src, ctx.uid, go)
