"""A bounded disk spool of encoded telemetry batches, kept while Kafka is unreachable.

One file per batch (``<seq>.batch``, written to a temp name then renamed, fsynced), replayed in
sequence order, deleted only once Kafka acknowledged it; survives a restart of the agent. When the
next batch would exceed ``max_bytes`` it is dropped and its records counted.
"""

from __future__ import annotations

import os
from pathlib import Path


class Spool:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        for tmp in root.glob("*.tmp"):
            tmp.unlink()  # a write cut short by a crash was never acknowledged to anyone
        self._files = sorted(root.glob("*.batch"))
        self.bytes = sum(f.stat().st_size for f in self._files)
        self._next = int(self._files[-1].stem) + 1 if self._files else 1
        self.dropped = 0  # records
        self.spooled = 0  # records written to the spool by this process

    @property
    def pending(self) -> int:
        return len(self._files)

    def append(self, payload: bytes, records: int) -> bool:
        if self.bytes + len(payload) > self.max_bytes:
            self.dropped += records
            return False
        path = self.root / f"{self._next:020d}.batch"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._next += 1
        self._files.append(path)
        self.bytes += len(payload)
        self.spooled += records
        return True

    def oldest(self) -> tuple[Path, bytes] | None:
        if not self._files:
            return None
        return self._files[0], self._files[0].read_bytes()

    def remove(self, path: Path) -> None:
        assert self._files and self._files[0] == path, "the spool is replayed in order"
        self.bytes -= path.stat().st_size
        path.unlink()
        self._files.pop(0)
