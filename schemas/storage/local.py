"""Local and NFS directories (``file:///path``): a POSIX tree, read and written in place.

Versions come from the inode, not the content: size, mtime, ctime (all in nanoseconds) and the inode
number. ctime cannot be set by tools, so a rewrite keeping size and mtime (``cp -p``, ``rsync -t``
in place) still changes it; ``rsync`` without ``--inplace`` renames a new inode over the old one.
Stats are ``os.stat`` calls (fsspec's info drops the nanoseconds) and follow symlinks, as the mount
shows what a link points to.
"""

from __future__ import annotations

import os
import stat as st_
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import Entry, StoreKind, VersionChanged

if TYPE_CHECKING:
    from ..config import BackendConfig


def version_of_stat(st: os.stat_result) -> str:
    """The version of a file from its (f)stat."""
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}-{st.st_ino}"


def entry_of_stat(st: os.stat_result) -> Entry:
    mode = st.st_mode & 0o7777
    times = (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
    if st_.S_ISDIR(st.st_mode):
        return Entry(True, 0, st.st_mtime, "", st.st_uid, st.st_gid, mode, times, st.st_nlink)
    return Entry(False, st.st_size, st.st_mtime, version_of_stat(st), st.st_uid, st.st_gid, mode, times, st.st_nlink)


class LocalStore(StoreKind):
    label = "local"
    schemes = ("file",)
    posix = True

    def check_url(self, url: str) -> str | None:
        return None if (urlsplit(url).path or "").startswith("/") else f"{url!r} must be an absolute file:///path"

    def root_path(self, backend: BackendConfig) -> str:
        return urlsplit(backend.url).path.rstrip("/") or "/"

    def entry(self, info: dict[str, Any]) -> Entry:
        try:
            return entry_of_stat(os.stat(info["name"]))
        except FileNotFoundError:  # a dangling symlink (or gone since it was listed): what fsspec saw
            mode = info.get("mode")
            return Entry(
                False,
                int(info.get("size") or 0),
                float(info.get("mtime") or 0),
                "",
                info.get("uid"),
                info.get("gid"),
                mode & 0o7777 if mode else None,
            )

    def stat(self, fs: Any, path: str) -> Entry:
        return entry_of_stat(os.stat(path))

    def list(self, fs: Any, path: str) -> list[tuple[str, Entry]]:
        out = []
        with os.scandir(path) as it:
            for d in it:
                try:
                    out.append((d.name, entry_of_stat(d.stat())))
                except FileNotFoundError:
                    try:  # a dangling symlink: listed, as a file of size 0
                        out.append((d.name, entry_of_stat(d.stat(follow_symlinks=False))))
                    except FileNotFoundError:
                        pass  # removed since readdir
        return out

    def read_range(self, fs: Any, path: str, start: int, end: int, version: str) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise VersionChanged(path, version) from None
        try:
            return read_fd_pinned(fd, path, start, end, version)
        finally:
            os.close(fd)

    def read_versioned(self, fs: Any, path: str, start: int, end: int) -> tuple[bytes, str | None]:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while True:
                version = version_of_stat(os.fstat(fd))
                try:
                    return read_fd_pinned(fd, path, start, end, version), version
                except VersionChanged:
                    continue  # written meanwhile: read again, the newest version
        finally:
            os.close(fd)


def read_fd_pinned(fd: int, path: str, start: int, end: int, version: str) -> bytes:
    """Bytes [start, end) of an open file, checked against ``version`` by fstat before and after."""
    if (now := version_of_stat(os.fstat(fd))) != version:
        raise VersionChanged(path, version, now)
    data = os.pread(fd, max(0, end - start), start)
    if (now := version_of_stat(os.fstat(fd))) != version:
        raise VersionChanged(path, version, now)
    return data
