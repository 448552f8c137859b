"""Read throughput through the agent's mount vs direct, a minimal pyfuse3 passthrough and rclone mount.

Same local files for every target (source warm in the page cache). Rows: one large file read
sequentially (first read after dropping the mount's page cache, then a re-read), random 128 KiB
reads, and many 1 MiB files (first read and re-read). The agent runs twice: telemetry on (file
sink, default sampling) and off. Peak RSS of each mount process from /proc. Every FUSE mount
gets the same 1 MiB kernel read-ahead (the agent sets it itself; the bench sets it for the peers).

Usage: .venv/bin/python bench/agent_read.py [--big-mib 512] [--small 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
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
from typing import Callable

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


def timed(fn: Callable[[], int]) -> float:
    t0 = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t0) / 1e9  # GB/s


def suite(root: Path, small: list[str], drop_cache: bool, repeat: int, seed: int = 7) -> dict[str, float]:
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

    rows: dict[str, list[float]] = {k: [] for k in ("big first read", "big re-read", "random 128 KiB",
                                                    "1 MiB files first read", "1 MiB files re-read")}
    for _ in range(repeat):
        if drop_cache:
            drop(big)
        rows["big first read"].append(timed(lambda: read_all(big)))
        rows["big re-read"].append(timed(lambda: read_all(big)))
        if drop_cache:
            drop(big)
        rows["random 128 KiB"].append(timed(random_reads))
        if drop_cache:
            for s in small:
                drop(root / s)
        rows["1 MiB files first read"].append(timed(smalls))
        rows["1 MiB files re-read"].append(timed(smalls))
    return {k: statistics.median(v) for k, v in rows.items()}


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
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
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


def agent_config(work: Path, src: Path, telemetry: bool) -> Path:
    cfg = work / f"agent-{telemetry}.toml"
    cfg.write_text(f"""state_dir = "{work}/state-{telemetry}"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[agent]
telemetry_enabled = {str(telemetry).lower()}
telemetry_sink = "file"
telemetry_file = "{work}/events-{telemetry}.jsonl"
[[backends]]
name = "local"
url = "file://{src}"
""")
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=512)
    ap.add_argument("--small", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wda-bench-", dir="/tmp"))
    src, mnt = work / "src", work / "mnt"
    src.mkdir()
    mnt.mkdir()
    try:
        with open(src / "big.bin", "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(MiB))
        (src / "small").mkdir()
        small = [f"small/{i:05d}.bin" for i in range(args.small)]
        for s in small:
            (src / s).write_bytes(os.urandom(MiB))
        results: dict[str, dict[str, float]] = {"direct": suite(src, small, False, args.repeat)}  # also warms the source
        rss: dict[str, float] = {}
        targets = {
            "agent, telemetry on": ([str(VENV_BIN / "warpdrive"), "agent", "mount", str(mnt), "--config",
                                     str(agent_config(work, src, True))], mnt / "local"),
            "agent, telemetry off": ([str(VENV_BIN / "warpdrive"), "agent", "mount", str(mnt), "--config",
                                      str(agent_config(work, src, False))], mnt / "local"),
            "pyfuse3 passthrough": ([sys.executable, str(HERE / "agent_passthrough.py"), str(src), str(mnt)], mnt),
        }
        if shutil.which("rclone"):
            targets["rclone mount"] = (["rclone", "mount", str(src), str(mnt), "--read-only"], mnt)
        for name, (argv, root) in targets.items():
            with Mount(argv, mnt, root) as m:
                results[name] = suite(root, small, True, args.repeat)
            rss[name] = m.rss
            print(f"{name}: done", file=sys.stderr)
        report(results, rss, args)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, dict[str, float]], rss: dict[str, float], args: argparse.Namespace) -> None:
    names = list(results)
    rows = list(results["direct"])
    print(f"big file {args.big_mib} MiB, {args.small} × 1 MiB files, median of {args.repeat}; GB/s\n")
    print("| row | " + " | ".join(names) + " | telemetry on/off | agent/passthrough | agent/rclone |")
    print("|---|" + "---|" * (len(names) + 3))
    for r in rows:
        on, off, pt = (results[n][r] for n in ("agent, telemetry on", "agent, telemetry off", "pyfuse3 passthrough"))
        rc = results.get("rclone mount", {}).get(r, float("nan"))
        print(f"| {r} | " + " | ".join(f"{results[n][r]:.2f}" for n in names)
              + f" | {on / off:.3f} | {on / pt:.2f} | {on / rc:.1f}× |")
    print("\npeak RSS (MB): " + ", ".join(f"{n} {v:.0f}" for n, v in rss.items()))


if __name__ == "__main__":
    main()
