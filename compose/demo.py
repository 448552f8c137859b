"""`warpdrive stack demo`: puts demo data on every backend of a running local stack and shows the
governance views answering — every hop real (files → crawler and FUSE reads → Kafka → stream
workers → PostgreSQL → API → warpdrive-ctl).

It drives the system only through its public surfaces: files on the backends, the agent's mount,
`warpdrive crawler run --once`, and `warpdrive-ctl` over HTTP.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import orjson

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.records import format_ts
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
DEMO_USERS = {
    "2001": "alice",
    "2002": "bob",
    "2003": "carol",
    "2004": "dave",
    "2005": "erin",
    "2006": "frank",
    "2007": "grace",
}
DEMO_TEAMS = {
    "alice": "vision",
    "bob": "nlp",
    "carol": "vision",
    "dave": "nlp",
    "erin": "speech",
    "frank": "speech",
    "grace": "platform",
}
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


# ---- the generated estate: tens of thousands of files with months of history (issue 20) ----

ESTATE_SEED = 20
# The object-store servers take 25 ms (moto) to 1 s (the GCS emulator, loaded) per upload: the bulk of the estate is local.
LOCAL_FILES, S3_OBJECTS, GCS_OBJECTS = 30_000, 1_000, 200
HISTORY_DAYS = 180
READ_SHARE = 0.35  # of the files read at least once in the history
TEAM_DIRS = {"vision": ("alice", "carol"), "nlp": ("bob", "dave"), "speech": ("erin", "frank"), "platform": ("grace",)}
UID = {name: int(uid) for uid, name in DEMO_USERS.items()}
# Object stores have no owners: rules give their prefixes to teams (and one to a user).
ESTATE_RULES = [
    ("s3:corpora", "nlp", None),
    ("s3:models", "nlp", "bob"),
    ("s3:speech", "speech", None),
    ("gcs:archive", "platform", None),
    ("gcs:vision", "vision", "alice"),
]


@dataclass(frozen=True)
class EstateFile:
    backend: str
    path: str
    size: int
    age_days: float  # modification age (local only: object stores date an object by its upload)
    uid: int


def estate_files() -> list[EstateFile]:
    """The estate, the same on every run: local files are sparse (big sizes, no disk), objects are small."""
    rnd = random.Random(ESTATE_SEED)
    out: list[EstateFile] = []
    teams = list(TEAM_DIRS)
    for i in range(LOCAL_FILES):
        team = teams[i % len(teams)] if i % 23 else "scratch"
        user = rnd.choice(TEAM_DIRS.get(team) or tuple(UID))
        kind = rnd.choice(("datasets", "runs", "features"))
        path = (
            f"scratch/{user}/tmp-{i:05d}.bin"
            if team == "scratch"
            else f"{kind}/{team}/{kind[:-1]}-{i % 37:02d}/part-{i:05d}.{'tar' if kind == 'datasets' else 'pt'}"
        )
        out.append(
            EstateFile("local", path, int(2 ** rnd.uniform(20, 33)), rnd.uniform(0, HISTORY_DAYS * 2), UID[user])
        )
    for i in range(S3_OBJECTS):
        top = ("corpora/web-2026", "models/llm-7b", "speech/asr-v3", "shared/tmp")[i % 4]
        out.append(
            EstateFile("s3", f"{top}/shard-{i % 29:02d}/part-{i:05d}.parquet", rnd.randrange(1 << 10, 16 << 10), 0, 0)
        )
    for i in range(GCS_OBJECTS):
        top = ("archive/2024", "archive/2025", "vision/labels")[i % 3]
        out.append(
            EstateFile("gcs", f"{top}/batch-{i % 17:02d}/obj-{i:05d}.json", rnd.randrange(1 << 10, 8 << 10), 0, 0)
        )
    return out


def write_estate(cfg: wconfig.Config, files: list[EstateFile], echo: Callable[[str], None]) -> None:
    now = time.time()
    by_backend: dict[str, list[EstateFile]] = {}
    for f in files:
        by_backend.setdefault(f.backend, []).append(f)
    for backend, group in by_backend.items():
        b = cfg.backend(backend)
        fs, root = open_fs(b), root_path(b)
        t0 = time.monotonic()
        if kind_of(b).posix:

            def make(f: EstateFile) -> None:
                full = Path(root) / f.path
                full.parent.mkdir(parents=True, exist_ok=True)
                with open(full, "wb") as out:
                    out.truncate(f.size)  # sparse: the size without the disk
                os.utime(full, (now - f.age_days * DAY, now - f.age_days * DAY))
                os.chown(full, f.uid, f.uid)

            with ThreadPoolExecutor(8) as pool:  # syscalls: threads overlap their waits
                list(pool.map(make, group))
        else:
            for i in range(0, len(group), 500):  # one concurrent batch of uploads per 500 objects
                fs.pipe({f"{root}/{f.path}": os.urandom(f.size) for f in group[i : i + 500]})
        echo(
            f"  {backend}: {len(group):,} files, {sum(f.size for f in group) / 2**30:,.1f} GiB "
            f"({time.monotonic() - t0:.1f} s)"
        )


def history_log(files: list[EstateFile], path: Path) -> tuple[int, int]:
    """Months of reads as an access log (JSON lines in the spec's AccessEvent shape, as a site exports them): a
    share of the files read by members of their team (and a few others) over HISTORY_DAYS, older files read longer
    ago, so the estate has fresh, cooling and stale data. Returns (events, reads)."""
    rnd = random.Random(ESTATE_SEED + 1)
    now = time.time()
    users = list(UID)
    events = reads = 0
    with open(path, "wb") as out:
        for f in files:
            if rnd.random() > READ_SHARE:
                continue
            for _ in range(rnd.randint(1, 3)):
                ago = rnd.uniform(0, min(HISTORY_DAYS, max(f.age_days, 1.0)))
                n = rnd.randint(1, 6)
                out.write(
                    orjson.dumps(
                        {
                            "timestamp": format_ts(now - ago * DAY),
                            "user_id": rnd.choice(users),
                            "backend_name": f.backend,
                            "path": "/" + f.path,
                            "operation": "read",
                            "bytes_read": n * min(f.size, 1 << 24),
                            "count": n,
                            "cache_hit": False,
                            "node_host": "demo-history",
                            "latency_ms": 0.0,
                            "error": None,
                        }
                    )
                    + b"\n"
                )
                events, reads = events + 1, reads + n
    return events, reads


def wait_for(what: str, check: Callable[[], bool], timeout: float, logs: Path) -> None:
    """Polls an observable fact (an API answer) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not happen within {timeout:.0f} s (logs: {logs})")
        time.sleep(1)


def read_through_mount(mnt: Path, echo: Callable[[str], None]) -> None:
    """Reads some files through the agent's mount as different users, so access is attributed."""
    reads = [
        ("2001", "local/datasets/imagenet/train/shard-000.tar"),
        ("2002", "s3/corpora/web-2026/part-0000.parquet"),
        ("2003", "local/datasets/imagenet/train/shard-001.tar"),
        ("2003", "gcs/archive/2024/labels.csv"),
    ]
    for uid, rel in reads:
        r = subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat", str(mnt / rel)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        who = DEMO_USERS[uid]
        echo(f"  {who:6} read {rel}" + ("" if r.returncode == 0 else f"  (failed: {r.stderr.strip()})"))


def run(st: Stack, echo: Callable[[str], None] = print) -> None:
    t_start = time.monotonic()
    cfg = wconfig.load(st.config_path)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "WARPDRIVE_CONFIG": str(st.config_path)}
    ctl = [str(bin_dir / "warpdrive-ctl"), "--control-plane", st.api_url]
    api = httpx.Client(base_url=f"{st.api_url}/api/v1", timeout=30)

    def sh(*args: str, show: bool = True) -> str:
        r = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:
            raise StackError(f"{' '.join(args[:4])}…: {(r.stderr or r.stdout).strip()}")
        if show:
            echo(r.stdout.rstrip())
            if r.stderr.strip():  # a table's notes (totals, paging) come on stderr
                echo(r.stderr.rstrip())
        return r.stdout

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise here
    echo("\n==> demo data: files on the local, S3 and GCS backends")
    estate = estate_files()
    echo(f"  showcase: {len(DEMO_FILES)} files, {write_files(cfg) / 2**20:.1f} MiB")
    write_estate(cfg, estate, echo)

    echo("\n==> teams and ownership (through the API, with warpdrive-ctl)")
    for user, team in DEMO_TEAMS.items():
        sh(*ctl, "teams", "set", user, team, show=False)
    rules = [("s3:corpora", "nlp", None), ("s3:models", "nlp", "bob"), ("gcs:archive", "platform", None)]
    for loc, team, owner in dict.fromkeys(rules + ESTATE_RULES):
        sh(*ctl, "ownership", "set", loc, "--team", team, *(("--user", owner) if owner else ()), show=False)
    echo("  " + "; ".join(f"{u} → {t}" for u, t in DEMO_TEAMS.items()))
    echo("  " + "; ".join(f"{loc} → {t}{'/' + u if u else ''}" for loc, t, u in dict.fromkeys(rules + ESTATE_RULES)))

    echo("\n==> crawl every backend (warpdrive crawler run --once)")
    t0 = time.monotonic()
    sh(str(bin_dir / "warpdrive"), "crawler", "run", "--once", show=False)
    expected_files = len(DEMO_FILES) + len(estate)
    wait_for(
        "the stream workers applying the crawl",
        lambda: api.get("/usage", params={"group_by": "backend"}).json().get("file_count", 0) >= expected_files,
        600,
        st.log_dir,
    )
    echo(f"  crawled and applied {expected_files:,} files in {time.monotonic() - t0:.1f} s")

    echo(f"\n==> {HISTORY_DAYS} days of read history imported from an access log (warpdrive backfill)")
    log = st.state_dir / "demo-access-history.jsonl"
    events, reads = history_log(estate, log)
    summary = orjson.loads(
        sh(str(bin_dir / "warpdrive"), "backfill", "--format", "jsonl", "--json", str(log), show=False)
    )
    echo(
        f"  {events:,} events, {reads:,} reads by {len(UID)} users: {summary['imported']:,} imported "
        f"({summary['unparseable']:,} unparseable); importing the same log again adds nothing"
    )

    mnt = st.state_dir / "mnt"
    if st.pid("agent") and os.path.ismount(mnt):
        echo(f"\n==> reads through the agent's FUSE mount at {mnt}")
        read_through_mount(mnt, echo)
    else:
        echo("\n(no agent mount running: skipping reads through FUSE)")

    echo("\n==> waiting for the stream workers to apply every read")
    wait_for(
        "the stream workers applying the read history",
        lambda: (
            api.get("/usage", params={"group_by": "user", "period": f"{HISTORY_DAYS + 1}d", "limit": 1})
            .json()
            .get("read_count", 0)
            >= reads
        ),
        600,
        st.log_dir,
    )

    echo("\n==> quotas in every state (from the applied usage)")
    team_bytes = {
        i["team"]: i["total_bytes"]
        for i in api.get("/usage", params={"group_by": "team", "per_backend": "false", "limit": 1000}).json()["items"]
    }
    for team, (soft, hard) in {"vision": (0.5, 0.8), "nlp": (0.8, 1.5), "speech": (2.0, 3.0)}.items():
        if team_bytes.get(team):
            sh(
                *ctl,
                "quota",
                "set",
                "--team",
                team,
                "--soft",
                str(int(soft * team_bytes[team])),
                "--hard",
                str(int(hard * team_bytes[team])),
                show=False,
            )
    wait_for(
        "the quota levels", lambda: all(q.get("level") for q in api.get("/quota").json()["items"]), 120, st.log_dir
    )
    echo("  " + ", ".join(f"{q['team']}: {q['level']}" for q in api.get("/quota").json()["items"]))

    echo("\n==> a few marks for deletion (the largest stale local files)")
    stale = api.get("/stale", params={"days": 90, "backend": "local", "limit": 5}).json()["items"]
    if stale:
        sh(
            *ctl,
            "marks",
            "add",
            *(f"local:{f['path']}" for f in stale),
            "--note",
            "demo: unread for months",
            show=False,
        )
    echo(f"  marked {len(stale)} files")

    echo("\n==> a move job, followed to its end (s3:shared/tmp/shard-00 → gcs:moved/)")
    sh(*ctl, "move", "s3:shared/tmp/shard-00/", "gcs:moved/shard-00/", "--wait", show=False)
    echo(
        "  done: "
        + ", ".join(f"{j['kind']} {j['state']}" for j in api.get("/jobs", params={"limit": 3}).json()["items"])
    )

    elapsed = time.monotonic() - t_start
    echo("\n$ warpdrive-ctl usage --group-by team")
    sh(*ctl, "usage", "--group-by", "team")
    echo("\n$ warpdrive-ctl usage --group-by user --limit 8")
    sh(*ctl, "usage", "--group-by", "user", "--limit", "8")
    echo("\n$ warpdrive-ctl stale --days 90 --limit 5")
    sh(*ctl, "stale", "--days", "90", "--limit", "5")
    echo("\n$ warpdrive-ctl quota list")
    sh(*ctl, "quota", "list")
    echo("\n$ warpdrive-ctl backends")
    sh(*ctl, "backends")
    api.close()
    echo(
        f"\nDemo data applied in {elapsed:.0f} s. Dashboard: {st.api_url}/   API: {st.api_url}/api/v1/openapi.json   "
        "Stop: compose/dev.sh down"
    )
