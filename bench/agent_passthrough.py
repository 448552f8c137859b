"""A minimal read-only pyfuse3 passthrough: the Python FUSE ceiling the agent is compared against.

Single-threaded on purpose (blocking os calls in the trio loop), keep_cache on open.
Usage: python bench/agent_passthrough.py SOURCE_DIR MOUNTPOINT  (SIGINT/SIGTERM unmounts)
"""

from __future__ import annotations

import errno
import os
import signal
import sys

import pyfuse3
import trio


class Passthrough(pyfuse3.Operations):
    def __init__(self, root: str) -> None:
        super().__init__()
        self.paths: dict[int, str] = {pyfuse3.ROOT_INODE: root}
        self.inodes: dict[str, int] = {root: pyfuse3.ROOT_INODE}

    def _attr(self, path: str) -> pyfuse3.EntryAttributes:
        try:
            st = os.lstat(path)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno or errno.EIO) from None
        ino = self.inodes.setdefault(path, len(self.inodes) + 1)
        self.paths[ino] = path
        a = pyfuse3.EntryAttributes()
        for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            setattr(a, k, getattr(st, k))
        a.st_ino, a.entry_timeout, a.attr_timeout = ino, 30, 30
        return a

    async def lookup(self, parent_inode, name, ctx):
        return self._attr(os.path.join(self.paths[parent_inode], os.fsdecode(name)))

    async def getattr(self, inode, ctx):
        return self._attr(self.paths[inode])

    async def opendir(self, inode, ctx):
        return inode

    async def readdir(self, fh, start_id, token):
        names = sorted(os.listdir(self.paths[fh]))
        for i in range(start_id, len(names)):
            if not pyfuse3.readdir_reply(
                token, os.fsencode(names[i]), self._attr(os.path.join(self.paths[fh], names[i])), i + 1
            ):
                break

    async def open(self, inode, flags, ctx):
        return pyfuse3.FileInfo(fh=os.open(self.paths[inode], os.O_RDONLY), keep_cache=True)

    async def read(self, fh, off, size):
        return os.pread(fh, size, off)

    async def release(self, fh):
        os.close(fh)


async def main(root: str, mountpoint: str) -> None:
    pyfuse3.init(Passthrough(root), mountpoint, {"fsname=passthrough", "ro"})
    try:
        async with trio.open_nursery() as n:

            async def stop() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as sigs:
                    async for _ in sigs:
                        pyfuse3.terminate()
                        return

            n.start_soon(stop)
            await pyfuse3.main()
            n.cancel_scope.cancel()
    finally:
        pyfuse3.close(unmount=True)


if __name__ == "__main__":
    trio.run(main, os.path.abspath(sys.argv[1]), sys.argv[2])
