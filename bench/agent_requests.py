"""What the two extra kernel requests of a read-write mount cost: FLUSH at close, GETATTR at fstat.

A read-write agent and a read-only one (``read_only = true``: mounted ``ro``, FLUSH answered
ENOSYS once) over the same local files, side by side. Per operation, the mount process's CPU (all
threads) and the caller's wall time, median of interleaved rounds:

- open + close of a file whose pages are cached: OPEN, FLUSH, RELEASE on the read-write mount;
  OPEN, RELEASE on the read-only one. The difference is one FLUSH.
- open, drop the file's pages, read 4 KiB (a READ from the daemon), fstat, close: on the read-write
  mount the READ invalidates atime, so the fstat costs a GETATTR; on the read-only one it does not.
  Compared with the same without the fstat, the difference is one GETATTR.

Usage: .venv/bin/python bench/agent_requests.py [--ops 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from agent_read import Mount, agent_argv, cpu_seconds, workspace

FILES = 200


def open_close(path: Path) -> None:
    os.close(os.open(path, os.O_RDONLY))


def read_evicted(fstat: bool) -> Callable[[Path], None]:
    def op(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.pread(fd, 4096, 0)
            if fstat:
                os.fstat(fd)
        finally:
            os.close(fd)

    return op


OPS = {
    "open + close": open_close,
    "evicted read + close": read_evicted(False),
    "evicted read + fstat + close": read_evicted(True),
}


def measure(mount: Mount, op: Callable[[Path], None], n: int) -> tuple[float, float]:
    """(mount CPU µs, caller wall µs) per operation."""
    pid = mount.proc.pid
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    for i in range(n):
        op(mount.root / f"f{i % FILES}")
    return (cpu_seconds(pid) - c0) / n * 1e6, (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with workspace() as (work, src), contextlib.ExitStack() as stack:
        (src / "big.bin").write_bytes(b"x")  # what Mount waits for
        for i in range(FILES):
            (src / f"f{i}").write_bytes(os.urandom(4096))
        mounts = {}
        for name, read_only in (("read-write", False), ("read-only", True)):
            mnt = work / f"mnt-{name}"
            mnt.mkdir()
            mounts[name] = stack.enter_context(Mount(agent_argv(work, src, mnt, True, read_only), mnt, mnt / "local"))
            for i in range(FILES):  # lookups and first opens are not what is measured
                open_close(mounts[name].root / f"f{i}")
        for r in range(args.repeat):
            for op_name, op in OPS.items():
                for name in list(mounts)[r % 2 :] + list(mounts)[: r % 2]:
                    results.setdefault((name, op_name), []).append(measure(mounts[name], op, args.ops))
            print(f"round {r + 1}/{args.repeat} done", file=sys.stderr)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    print(f"{args.ops} operations per pass, {FILES} × 4 KiB files, median of {args.repeat} interleaved rounds\n")
    print(
        "| operation | read-write: agent CPU µs | read-only: agent CPU µs | read-write: wall µs | read-only: wall µs |"
    )
    print("|---|---|---|---|---|")
    for op_name in OPS:
        rw, ro = med[("read-write", op_name)], med[("read-only", op_name)]
        print(f"| {op_name} | {rw[0]:.0f} | {ro[0]:.0f} | {rw[1]:.0f} | {ro[1]:.0f} |")
    flush = med[("read-write", "open + close")][0] - med[("read-only", "open + close")][0]
    getattr_ = med[("read-write", "evicted read + fstat + close")][0] - med[("read-write", "evicted read + close")][0]
    print(f"\none FLUSH ≈ {flush:.0f} µs of agent CPU, one GETATTR ≈ {getattr_:.0f} µs")


if __name__ == "__main__":
    main()
