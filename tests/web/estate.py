"""A demo-like estate for the browser tests, written straight into the tables the stream workers keep: thousands of
files over local, S3 and GCS, several teams and users, 90 days of growth, reads, quotas in every state, agents and
jobs. Deterministic (seeded), so the tests can compute what every page must show from ``FILES`` alone."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg
import orjson

from tests.helpers import rebuild_rollups

NOW = datetime.now(UTC)
MiB, GiB = 1 << 20, 1 << 30
BACKENDS = ("local", "s3", "gcs")
TEAMS = {
    "vision": ["alice", "bob", "carol"],
    "nlp": ["dave", "erin"],
    "speech": ["frank", "grace"],
    "platform": ["heidi"],
}
USER_TEAM = {u: t for t, us in TEAMS.items() for u in us}
N_FILES = 3000
STALE_DAYS = 90


@dataclass(frozen=True)
class File:
    backend: str
    path: str
    size: int
    team: str
    user: str | None
    modified: datetime
    accessed: datetime | None

    @property
    def stale(self) -> bool:
        return max(self.modified, self.accessed or self.modified) < NOW - timedelta(days=STALE_DAYS)


def _files() -> list[File]:
    rnd = random.Random(20)
    out = []
    for i in range(N_FILES):
        backend = BACKENDS[i % 3]
        team = rnd.choice([*TEAMS, "unowned"])
        user = rnd.choice(TEAMS[team]) if team != "unowned" else None
        project = f"proj-{rnd.randrange(4)}"
        size = int(MiB * 2 ** rnd.uniform(0, 14))  # 1 MiB .. 16 GiB, log-uniform
        modified = NOW - timedelta(days=rnd.uniform(1, 400))
        accessed = None if rnd.random() < 0.3 else NOW - timedelta(days=rnd.uniform(0, (NOW - modified).days))
        out.append(
            File(backend, f"{team}/{project}/run-{i % 17:02d}/part-{i:05d}.bin", size, team, user, modified, accessed)
        )
    return out


FILES = _files()
STALE = [f for f in FILES if f.stale]


def team_bytes(team: str) -> int:
    return sum(f.size for f in FILES if f.team == team)


def _tree_rows() -> tuple[list[tuple], list[tuple], list[tuple]]:
    never = date.min
    dirs: dict[tuple, list[int]] = {}
    teams: dict[tuple, list[int]] = {}
    acts: dict[tuple, list[int]] = {}

    def week(t: datetime | None) -> date:
        return (t.date() - timedelta(days=t.weekday())) if t else never

    for f in FILES:
        parts = f.path.split("/")[:-1]
        for depth in range(len(parts) + 1):
            d = "/".join(parts[:depth])
            for key, table in (
                ((f.backend, d), dirs),
                ((f.backend, d, f.team), teams),
                ((f.backend, d, "a", week(f.accessed)), acts),
                ((f.backend, d, "m", week(f.modified)), acts),
                # the stale rule's activity, the later of the two (tree_inactive, migration 0060)
                ((f.backend, d, "s", week(max(t for t in (f.accessed, f.modified) if t))), acts),
            ):
                agg = table.setdefault(key, [0, 0])
                agg[0] += 1
                agg[1] += f.size
    tree_dirs = [
        (b, d, None if d == "" else d.rpartition("/")[0], d.count("/") + (d != ""), n, s)
        for (b, d), (n, s) in dirs.items()
    ]
    return tree_dirs, [(*k, n, s) for k, (n, s) in teams.items()], [(*k, n, s) for k, (n, s) in acts.items()]


QUOTAS = {  # team → (soft, hard) as fractions of its usage: over hard, over soft, fine
    "vision": (0.5, 0.8),
    "nlp": (0.8, 1.5),
    "speech": (2.0, 3.0),
}
MOVE_JOB = "5e1f0c2a9b7d4e3f8a6b1c0d2e4f6a8b"
DRY_RUN_JOB = "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        async with conn.transaction():
            await conn.executemany(
                """INSERT INTO storage_files (backend_name, path, size_bytes, owner_team, owner_user, last_modified,
                                              last_access, owner_source) VALUES ($1, $2, $3, $4, $5, $6, $7, 'rule')""",
                [(f.backend, f.path, f.size, f.team, f.user, f.modified, f.accessed) for f in FILES],
            )
            await conn.execute(
                """INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes, last_access)
                   SELECT backend_name, owner_team, COALESCE(owner_user, ''), count(*), sum(size_bytes), max(last_access)
                   FROM storage_files GROUP BY 1, 2, 3"""
            )
            await conn.executemany(
                "INSERT INTO telemetry_coverage VALUES ($1, $2, $3)",
                [(b, NOW - timedelta(days=500), NOW) for b in BACKENDS],
            )
            await conn.executemany(
                "INSERT INTO crawls (crawl_id, backend_name, started_at, finished_at, files, bytes, status) "
                "VALUES ($1, $2, $3, $4, $5, $6, 'complete')",
                [
                    (
                        f"c-{b}",
                        b,
                        NOW - timedelta(hours=2),
                        NOW - timedelta(hours=1),
                        sum(1 for f in FILES if f.backend == b),
                        sum(f.size for f in FILES if f.backend == b),
                    )
                    for b in BACKENDS
                ],
            )
            # 90 days of growth: each (backend, team) series grows linearly to today's total.
            totals: dict[tuple[str, str], list[int]] = {}
            for f in FILES:
                t = totals.setdefault((f.backend, f.team), [0, 0])
                t[0] += f.size
                t[1] += 1
            await conn.executemany(
                """INSERT INTO growth_daily (date, backend_name, owner_team, total_bytes, file_count, added_bytes)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                [
                    (
                        (NOW - timedelta(days=d)).date(),
                        b,
                        t,
                        s * (100 - d // 2) // 100,
                        n * (100 - d // 2) // 100,
                        s // 200,
                    )
                    for (b, t), (s, n) in totals.items()
                    for d in range(89, -1, -1)
                ],
            )
            await conn.executemany(
                "INSERT INTO teams (user_id, team_name) VALUES ($1, $2)",
                [(u, t) for u, t in USER_TEAM.items()] + [("ivan", "platform")],
            )
            # Reads: every file read lately was read by a member of a random team.
            rnd = random.Random(7)
            reads: dict[tuple[str, str], list] = {}
            daily: dict[tuple[date, str, str], list] = {}
            for f in FILES:
                if f.accessed is None:
                    continue
                reader = rnd.choice(list(USER_TEAM))
                n = rnd.randrange(1, 20)
                r = reads.setdefault((reader, f.backend), [0, 0, 0, f.accessed])
                r[0] += n
                r[1] += n * f.size
                r[2] += 1
                r[3] = max(r[3], f.accessed)
                dd = daily.setdefault((f.accessed.date(), f.backend, reader), [0, 0, 0, f.accessed])
                dd[0] += n
                dd[1] += n * f.size
                dd[2] += 1
                dd[3] = max(dd[3], f.accessed)
                await conn.execute(
                    """INSERT INTO user_files (user_id, backend_name, path, read_count, bytes_read, last_access)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
                    reader,
                    f.backend,
                    f.path,
                    n,
                    n * f.size,
                    f.accessed,
                )
            await conn.executemany(
                """INSERT INTO user_reads (user_id, backend_name, read_count, bytes_read, files_accessed, last_access)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                [(*k, *v) for k, v in reads.items()],
            )
            await conn.executemany(
                """INSERT INTO access_daily (date, backend_name, user_id, read_count, bytes_read, files, last_access)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                [(*k, *v) for k, v in daily.items()],
            )
            tree_dirs, tree_teams, tree_activity = _tree_rows()
            await conn.executemany(
                "INSERT INTO tree_dirs (backend_name, dir, parent, depth, file_count, total_bytes) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                tree_dirs,
            )
            await conn.executemany(
                "INSERT INTO tree_teams (backend_name, dir, owner_team, file_count, total_bytes) "
                "VALUES ($1, $2, $3, $4, $5)",
                tree_teams,
            )
            await conn.executemany(
                "INSERT INTO tree_activity (backend_name, dir, kind, period, file_count, total_bytes) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                [r for r in tree_activity if r[2] != "s"],
            )
            await conn.executemany(
                "INSERT INTO tree_inactive (backend_name, dir, period, file_count, total_bytes) "
                "VALUES ($1, $2, $3, $4, $5)",
                [(b, d, period, n, size) for b, d, kind, period, n, size in tree_activity if kind == "s"],
            )
            await rebuild_rollups(conn, tree=False)  # the owners' activity weeks, as the workers keep them
            for team, (soft, hard) in QUOTAS.items():
                used = team_bytes(team)
                level = "hard" if used >= int(hard * used) else "soft" if used >= int(soft * used) else "ok"
                await conn.execute(
                    "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, NULL, $2, $3)",
                    team,
                    int(soft * used),
                    int(hard * used),
                )
                await conn.execute(
                    "INSERT INTO quota_state (team_name, backend_name, level, usage_bytes) VALUES ($1, NULL, $2, $3)",
                    team,
                    level,
                    used,
                )
            status = {
                "node_host": "gpu-01",
                "mounts": [{"mountpoint": "/mnt/warpdrive", "errors": 0}],
                "cache": {"bytes": 12 * GiB, "max_bytes": 100 * GiB, "hit_rate": 0.873, "blocks": 3072},
                "telemetry": {"queue_depth": 3, "dropped": 0, "spool_bytes": 0},
                "backends": {
                    "local": {"reachable": True, "latency_ms": 0.4},
                    "s3": {"reachable": True, "latency_ms": 12.5},
                    "gcs": {"reachable": False, "error": "ETIMEDOUT: no answer in 5 s"},
                },
            }
            await conn.execute(
                "INSERT INTO agents VALUES ('gpu-01', now(), $1::jsonb), ('gpu-02', $2, '{}')",
                orjson.dumps(status).decode(),
                NOW - timedelta(hours=3),
            )
            await conn.executemany(  # two records the workers could not apply
                "INSERT INTO dead_letters (consumer, topic, partition, \"offset\", error) VALUES ('streams', $1, 0, $2, 'bad')",
                [("warpdrive.access.v1", 17), ("warpdrive.access.v1", 18)],
            )
            await conn.executemany(
                "INSERT INTO jobs (job_id, kind, args, state, progress, created_by, created_at, updated_at) "
                "VALUES ($1, 'move', $2::jsonb, $3, $4::jsonb, 'root', $5, $5)",
                [
                    (
                        MOVE_JOB,
                        orjson.dumps({"backend": "local", "path": "platform/old", "dest_backend": "gcs"}).decode(),
                        "done",
                        orjson.dumps(
                            {"files_total": 40, "bytes_total": 40 * GiB, "files_done": 40, "bytes_done": 40 * GiB}
                        ).decode(),
                        NOW - timedelta(days=2),
                    ),
                    (
                        DRY_RUN_JOB,
                        orjson.dumps(
                            {"backend": "s3", "path": "vision/proj-1", "dest_backend": "gcs", "dry_run": True}
                        ).decode(),
                        "running",
                        orjson.dumps(
                            {"files_total": 200, "bytes_total": 100 * GiB, "files_done": 80, "bytes_done": 40 * GiB}
                        ).decode(),
                        NOW - timedelta(minutes=5),
                    ),
                ],
            )
    finally:
        await conn.close()
