"""Memory of the agent's metadata caches under many missing names (issue 14, point 13).

Tools probe names that do not exist (``.git``, locale files, ``__pycache__``…); each miss is cached
(a negative entry) so the next probe costs no backend call. The caches are LRUs bounded by
``agent.metadata_cache_entries``: this bench stats N distinct missing names through the agent's
mount and through the minimal pyfuse3 passthrough (no cache: the peer), mounted side by side over
the same local dir, and prints each process's RSS after every step. The agent's RSS must level off
once the bound is reached; the ratio agent/passthrough is printed per step.

Usage: .venv/bin/python bench/agent_metadata.py [--names 200000] [--step 50000] [--entries 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_read import HERE, VENV_BIN, Mount, workspace  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(root: Path, start: int, end: int) -> None:
    for i in range(start, end):
        with contextlib.suppress(FileNotFoundError):
            os.stat(root / f"missing-{i:07d}")
            raise AssertionError("a missing name exists")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=200_000)
    ap.add_argument("--step", type=int, default=50_000)
    ap.add_argument("--entries", type=int, default=100_000, help="agent.metadata_cache_entries")
    args = ap.parse_args()
    with workspace() as (work, src):
        (src / "big.bin").write_bytes(b"x")  # Mount waits for it to show through the mount
        cfg = work / "agent.toml"
        cfg.write_text(f"""state_dir = "{work}/state"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[agent]
telemetry_enabled = false
metadata_ttl = 3600.0
metadata_cache_entries = {args.entries}
[[backends]]
name = "local"
url = "file://{src}"
""")
        (work / "mnt0").mkdir()
        (work / "mnt1").mkdir()
        with (
            Mount(
                [str(VENV_BIN / "warpdrive"), "agent", "mount", str(work / "mnt0"), "--config", str(cfg)],
                work / "mnt0",
                work / "mnt0" / "local",
            ) as agent,
            Mount(
                [sys.executable, str(HERE / "agent_passthrough.py"), str(src), str(work / "mnt1")],
                work / "mnt1",
                work / "mnt1",
            ) as peer,
        ):
            print(f"load: {os.getloadavg()[0]:.1f}; agent.metadata_cache_entries = {args.entries}, ttl 3600 s")
            print(
                f"{'missing names':>14} {'agent RSS MiB':>14} {'passthrough RSS MiB':>20} {'ratio':>6} {'agent s':>8}"
            )
            done = 0
            while True:
                a, p = rss_mb(agent.proc.pid), rss_mb(peer.proc.pid)
                print(f"{done:>14} {a:>14.1f} {p:>20.1f} {a / p:>6.2f}", flush=True)
                if done >= args.names:
                    break
                t0 = time.perf_counter()
                probe(agent.root, done, done + args.step)
                took = time.perf_counter() - t0
                probe(peer.root, done, done + args.step)
                done += args.step
                print(f"{'':>57} {took:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
