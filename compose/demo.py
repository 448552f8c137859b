"""`warpdrive stack demo`: puts demo data on every backend of a running local stack and shows the
governance views answering — every hop real (files → crawler and FUSE reads → Kafka → stream
workers → PostgreSQL → API → warpdrive-ctl).

It drives the system only through its public surfaces: files on the backends, the agent's mount,
`warpdrive crawler run --once`, and `warpdrive-ctl` over HTTP.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import httpx

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import kind_of, open_fs, root_path

from .errors import StackError
from .stack import Stack

DAY = 86_400
# (backend, path, size, age in days, owner uid) — uids map to demo users via [agent.users].
DEMO_FILES: list[tuple[str, str, int, int, int]] = [
    ("local", "datasets/imagenet/train/shard-000.tar", 3 << 20, 3, 2001),
    ("local", "datasets/imagenet/train/shard-001.tar", 3 << 20, 3, 2001),
    ("local", "datasets/imagenet/val/shard-000.tar", 1 << 20, 200, 2001),
    ("local", "runs/2025-03-ablation/checkpoint.pt", 5 << 20, 240, 2002),
    ("local", "runs/2025-03-ablation/metrics.json", 12 << 10, 240, 2002),
    ("local", "scratch/tmp.bin", 256 << 10, 400, 0),
    ("s3", "corpora/web-2026/part-0000.parquet", 2 << 20, 0, 0),
    ("s3", "corpora/web-2026/part-0001.parquet", 2 << 20, 0, 0),
    ("s3", "models/llm-7b/weights.safetensors", 4 << 20, 0, 0),
    ("gcs", "archive/2024/raw-logs.tar.zst", 6 << 20, 0, 0),
    ("gcs", "archive/2024/labels.csv", 64 << 10, 0, 0),
]
DEMO_USERS = {"2001": "alice", "2002": "bob", "2003": "carol"}
DEMO_TEAMS = {"alice": "vision", "bob": "nlp", "carol": "vision"}
# What `warpdrive stack up` adds to the generated config so the demo's uids have names.
CONFIG_EXTRA = {"agent": {"users": DEMO_USERS, "flush_interval": 1.0}, "crawler": {"interval": 3600.0}}


def write_files(cfg: wconfig.Config) -> int:
    total = 0
    now = time.time()
    for backend, path, size, age, uid in DEMO_FILES:
        b = cfg.backend(backend)
        fs, root = open_fs(b), root_path(b)
        full = f"{root}/{path}"
        fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(full, os.urandom(size))
        if kind_of(b).posix:  # only a POSIX backend lets us set owners and ages
            os.utime(full, (now - age * DAY, now - age * DAY))
            os.chown(full, uid, uid)
        total += size
    return total


def read_through_mount(mnt: Path, echo: Callable[[str], None]) -> None:
    """Reads some files through the agent's mount as different users, so access is attributed."""
    reads = [("2001", "local/datasets/imagenet/train/shard-000.tar"), ("2002", "s3/corpora/web-2026/part-0000.parquet"),
             ("2003", "local/datasets/imagenet/train/shard-001.tar"), ("2003", "gcs/archive/2024/labels.csv")]
    for uid, rel in reads:
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat", str(mnt / rel)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
        who = DEMO_USERS[uid]
        echo(f"  {who:6} read {rel}" + ("" if r.returncode == 0 else f"  (failed: {r.stderr.strip()})"))


def run(st: Stack, echo: Callable[[str], None] = print) -> None:
    cfg = wconfig.load(st.config_path)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "WARPDRIVE_CONFIG": str(st.config_path)}
    ctl = [str(bin_dir / "warpdrive-ctl"), "--control-plane", st.api_url]

    def sh(*args: str, show: bool = True) -> str:
        r = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=300)
        if r.returncode != 0:
            raise StackError(f"{' '.join(args[:4])}…: {(r.stderr or r.stdout).strip()}")
        if show:
            echo(r.stdout.rstrip())
        return r.stdout

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise here
    echo("\n==> demo data: files on the local, S3 and GCS backends")
    echo(f"  wrote {len(DEMO_FILES)} files, {write_files(cfg) / 2**20:.1f} MiB")

    echo("\n==> teams and ownership (through the API, with warpdrive-ctl)")
    for user, team in DEMO_TEAMS.items():
        sh(*ctl, "teams", "set", user, team, show=False)
    sh(*ctl, "ownership", "set", "s3:corpora", "--team", "nlp", show=False)
    sh(*ctl, "ownership", "set", "s3:models", "--team", "nlp", "--user", "bob", show=False)
    sh(*ctl, "ownership", "set", "gcs:archive", "--team", "platform", show=False)
    echo("  alice, carol → vision; bob → nlp; s3:corpora, s3:models → nlp; gcs:archive → platform")

    echo("\n==> crawl every backend (warpdrive crawler run --once)")
    sh(str(bin_dir / "warpdrive"), "crawler", "run", "--once", show=False)
    echo(f"  crawled {', '.join(b.name for b in cfg.backends)}")

    mnt = st.state_dir / "mnt"
    if st.pid("agent") and os.path.ismount(mnt):
        echo(f"\n==> reads through the agent's FUSE mount at {mnt}")
        read_through_mount(mnt, echo)
    else:
        echo("\n(no agent mount running: skipping reads through FUSE)")

    echo("\n==> waiting for the stream workers to aggregate")
    expected = sum(f[2] for f in DEMO_FILES)
    deadline = time.monotonic() + 120
    while True:
        usage = httpx.get(f"{st.api_url}/api/v1/usage", params={"group_by": "team"}, timeout=10).json()
        if usage.get("total_bytes", 0) >= expected:
            break
        if time.monotonic() > deadline:
            raise StackError(f"usage did not reach the demo's {expected} bytes in 120 s (logs: {st.log_dir})")
        time.sleep(1)

    echo("\n$ warpdrive-ctl usage --group-by team")
    sh(*ctl, "usage", "--group-by", "team")
    echo("\n$ warpdrive-ctl stale --days 90")
    sh(*ctl, "stale", "--days", "90")
    echo("\n$ warpdrive-ctl backends")
    sh(*ctl, "backends")
    echo(f"\nDashboard: {st.api_url}/   API: {st.api_url}/api/v1/openapi.json   Stop: compose/dev.sh down")
