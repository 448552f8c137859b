"""Read throughput through the agent's mount vs direct, a minimal pyfuse3 passthrough and rclone mount.

Same local files for every target (source warm in the page cache). Rows: one large file read
sequentially (first read after dropping the mount's page cache, then a re-read), random 128 KiB
reads, and many 1 MiB files (first read and re-read). The agent runs three times: read-write (its
default) with telemetry on (file sink, default sampling) and off, and read-only (``read_only = true``,
telemetry on), which is what the passthrough is: a read-write FUSE mount costs two more requests
per file (FLUSH at every close, and a GETATTR at the next fstat once pages came from the daemon,
because the kernel invalidates atime). All targets are mounted at once and every round runs one
pass over each, in rotating order; ratios are medians of per-round ratios. Peak RSS of each mount
process from /proc. Every FUSE mount gets the same 1 MiB kernel read-ahead (the agent sets it
itself; the bench sets it for the peers).

Usage: .venv/bin/python bench/agent_read.py [--big-mib 512] [--small 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
MiB = 1 << 20


def drop(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_all(path: Path, bs: int = MiB) -> int:
    n = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(bs):
            n += len(chunk)
    return n


def cpu_seconds(pid: int | None) -> float:
    """CPU time of every thread of a process so far (ns resolution); 0 for no process."""
    if pid is None:
        return 0.0
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total / 1e9


def timed(fn: Callable[[], int], pid: int | None) -> tuple[float, float]:
    """GB/s of ``fn``, and the mount process's CPU milliseconds per GB read (what load hardly changes)."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    n = fn()
    t1, c1 = time.perf_counter(), cpu_seconds(pid)
    return n / (t1 - t0) / 1e9, (c1 - c0) * 1e3 / (n / 1e9)


ROWS = ("big first read", "big re-read", "random 128 KiB", "1 MiB files first read", "1 MiB files re-read")


def suite(
    root: Path, small: list[str], drop_cache: bool, pid: int | None = None, seed: int = 7
) -> dict[str, tuple[float, float]]:
    """One pass of every row over one target: (GB/s, mount CPU ms per GB) per row."""
    big = root / "big.bin"
    size = big.stat().st_size

    def random_reads() -> int:
        rnd = random.Random(seed)
        n = 0
        with open(big, "rb", buffering=0) as f:
            for _ in range(2000):
                n += len(os.pread(f.fileno(), 128 * 1024, rnd.randrange(0, size - 128 * 1024) & ~4095))
        return n

    def smalls() -> int:
        return sum(read_all(root / s) for s in small)

    out: dict[str, tuple[float, float]] = {}
    if drop_cache:
        drop(big)
    out["big first read"] = timed(lambda: read_all(big), pid)
    out["big re-read"] = timed(lambda: read_all(big), pid)
    if drop_cache:
        drop(big)
    out["random 128 KiB"] = timed(random_reads, pid)
    if drop_cache:
        for s in small:
            drop(root / s)
    out["1 MiB files first read"] = timed(smalls, pid)
    out["1 MiB files re-read"] = timed(smalls, pid)
    return out


def set_read_ahead(mnt: Path, kb: int = 1024) -> None:
    st = os.stat(mnt)
    Path(f"/sys/class/bdi/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/read_ahead_kb").write_text(str(kb))


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of a process and its children (rclone and the agent are single processes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Mount:
    def __init__(self, argv: list[str], mnt: Path, root: Path) -> None:
        self.argv, self.mnt, self.root = argv, mnt, root

    def __enter__(self) -> "Mount":
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.argv[0]} did not mount")
            time.sleep(0.1)
        while not (self.root / "big.bin").exists():
            time.sleep(0.1)
        set_read_ahead(self.mnt)
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss = peak_rss_mb(self.proc.pid)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False)


def agent_config(work: Path, src: Path, telemetry: bool, read_only: bool = False) -> Path:
    name = f"{telemetry}-{read_only}"
    cfg = work / f"agent-{name}.toml"
    cfg.write_text(f"""state_dir = "{work}/state-{name}"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[agent]
telemetry_enabled = {str(telemetry).lower()}
telemetry_sink = "file"
telemetry_file = "{work}/events-{name}.jsonl"
read_only = {str(read_only).lower()}
[[backends]]
name = "local"
url = "file://{src}"
""")
    return cfg


def agent_argv(work: Path, src: Path, mnt: Path, telemetry: bool, read_only: bool = False) -> list[str]:
    return [
        str(VENV_BIN / "warpdrive"),
        "agent",
        "mount",
        str(mnt),
        "--config",
        str(agent_config(work, src, telemetry, read_only)),
    ]


@contextlib.contextmanager
def workspace() -> Iterator[tuple[Path, Path]]:
    """A temp dir and its empty ``src`` dir; mounts left at ``mnt*`` in it are detached at the end."""
    work = Path(tempfile.mkdtemp(prefix="wda-bench-", dir="/tmp"))
    src = work / "src"
    src.mkdir()
    try:
        yield work, src
    finally:
        for mnt in work.glob("mnt*"):
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=512)
    ap.add_argument("--small", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with workspace() as (work, src):
        with open(src / "big.bin", "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(MiB))
        (src / "small").mkdir()
        small = [f"small/{i:05d}.bin" for i in range(args.small)]
        for s in small:
            (src / s).write_bytes(os.urandom(MiB))
        suite(src, small, False)  # warms the source

        def agent(telemetry: bool, read_only: bool = False) -> Callable[[Path], tuple[list[str], Path]]:
            return lambda mnt: (agent_argv(work, src, mnt, telemetry, read_only), mnt / "local")

        targets: dict[str, Callable[[Path], tuple[list[str], Path]]] = {
            "agent, telemetry on": agent(True),
            "agent, telemetry off": agent(False),
            "agent read-only": agent(True, read_only=True),
            "pyfuse3 passthrough": lambda mnt: (
                [sys.executable, str(HERE / "agent_passthrough.py"), str(src), str(mnt)],
                mnt,
            ),
        }
        if shutil.which("rclone"):
            targets["rclone mount"] = lambda mnt: (["rclone", "mount", str(src), str(mnt), "--read-only"], mnt)
        # Every target is mounted at once and the passes interleave, rotating the order: the load of
        # this shared machine drifts within minutes, and a ratio of two passes run side by side is
        # what stays meaningful.
        rounds: dict[str, list[dict[str, tuple[float, float]]]] = {"direct": [], **{n: [] for n in targets}}
        with contextlib.ExitStack() as stack:
            mounts: dict[str, Mount] = {}
            for i, (name, make) in enumerate(targets.items()):
                mnt = work / f"mnt{i}"
                mnt.mkdir()
                argv, root = make(mnt)
                mounts[name] = stack.enter_context(Mount(argv, mnt, root))
            for r in range(args.repeat):
                names = list(rounds)
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    if name == "direct":
                        rounds[name].append(suite(src, small, False))
                    else:
                        rounds[name].append(suite(mounts[name].root, small, True, mounts[name].proc.pid))
                print(f"round {r + 1}/{args.repeat} done", file=sys.stderr)
        report(rounds, {n: m.rss for n, m in mounts.items()}, args)


def report(
    rounds: dict[str, list[dict[str, tuple[float, float]]]], rss: dict[str, float], args: argparse.Namespace
) -> None:
    """Medians per target; each ratio is the median of the per-round ratios (passes run side by side)."""
    names = list(rounds)
    on, off, ro, pt, rc = (
        "agent, telemetry on",
        "agent, telemetry off",
        "agent read-only",
        "pyfuse3 passthrough",
        "rclone mount",
    )

    def med(name: str, row: str, k: int) -> float:
        return statistics.median(x[row][k] for x in rounds[name])

    def ratio(a: str, b: str, row: str, k: int = 0) -> float:
        if not rounds.get(b):
            return float("nan")
        return statistics.median(x[row][k] / y[row][k] for x, y in zip(rounds[a], rounds[b]))

    print(f"big file {args.big_mib} MiB, {args.small} × 1 MiB files, median of {args.repeat} interleaved rounds\n")
    print("Throughput, GB/s:\n")
    print(
        "| row | " + " | ".join(names) + " | telemetry on/off | agent/passthrough | read-only agent/passthrough"
        " | agent/rclone | read-only agent/rclone |"
    )
    print("|---|" + "---|" * (len(names) + 5))
    for row in ROWS:
        print(
            f"| {row} | "
            + " | ".join(f"{med(n, row, 0):.2f}" for n in names)
            + f" | {ratio(on, off, row):.3f} | {ratio(on, pt, row):.2f} | {ratio(ro, pt, row):.2f}"
            + f" | {ratio(on, rc, row):.1f}× | {ratio(ro, rc, row):.1f}× |"
        )
    mounts = names[1:]
    print("\nCPU of the mount process (all threads), ms per GB read; ratios > 1 mean the first costs more:\n")
    print("| row | " + " | ".join(mounts) + " | telemetry on/off | agent/passthrough | read-only agent/passthrough |")
    print("|---|" + "---|" * (len(mounts) + 3))
    for row in ROWS:
        print(
            f"| {row} | "
            + " | ".join(f"{med(n, row, 1):.0f}" for n in mounts)
            + f" | {ratio(on, off, row, 1):.3f} | {ratio(on, pt, row, 1):.2f} | {ratio(ro, pt, row, 1):.2f} |"
        )
    print("\npeak RSS (MB): " + ", ".join(f"{n} {v:.0f}" for n, v in rss.items()))


if __name__ == "__main__":
    main()
