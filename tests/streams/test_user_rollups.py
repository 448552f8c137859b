"""Migration 0054 on an existing database: the per-user rollups are backfilled from the access_log rows the
workers wrote before it, and the worker keeps them exact from there on (real Kafka and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import (
    access_batches,
    access_log,
    access_truth,
    produce_batches,
    query,
    user_rollups,
    user_truth,
)
from warpdrive.compose.stack import Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import create_database, drop_database, migrate
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services

BACKENDS = ("mig-a", "mig-b")


async def _migrate(dsn: str, upto: int | None = None) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, upto)
    finally:
        await conn.close()


def test_migration_backfills_user_rollups_then_the_worker_keeps_them(
    stack: Stack, cfg: wconfig.Config, config_dict: dict, tmp_path: Path
) -> None:
    base = stack.postgres_dsn()
    name = f"wdmig_{uuid.uuid4().hex[:8]}"
    dsn = asyncio.run(create_database(base, name))
    try:
        asyncio.run(_migrate(dsn, upto=53))
        # A history as the previous workers left it: several days per file and user, one user on two backends;
        # the files are among those the worker's events read below, so it adds to backfilled rows.
        rows = [
            ("mig-a", "data/dir1/f1.bin", "alice", "2026-11-01", 3, 300, 0, 0, "2026-11-01T10:00:00.000000Z"),
            ("mig-a", "data/dir1/f1.bin", "alice", "2026-11-02", 1, 100, 1, 7, "2026-11-02T11:00:00.000000Z"),
            ("mig-a", "data/dir2/f2.bin", "alice", "2026-11-02", 0, 0, 0, 0, "2026-11-02T12:00:00.000000Z"),
            ("mig-b", "data/dir1/f1.bin", "alice", "2026-11-03", 2, 50, 0, 0, "2026-11-03T09:00:00.000000Z"),
            ("mig-a", "data/dir1/f1.bin", "bob", "2026-11-01", 5, 500, 0, 0, "2026-11-01T08:00:00.000000Z"),
        ]
        query(
            dsn,
            """INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, write_count,
                                              bytes_written, last_access)
                      SELECT b, p, u, d::date, rc, br, wc, bw, la::timestamptz
                      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::int[],
                                  $8::bigint[], $9::text[]) AS v(b, p, u, d, rc, br, wc, bw, la)""",
            *map(list, zip(*rows)),
        )
        asyncio.run(_migrate(dsn))
        files, reads = user_rollups(dsn, BACKENDS)
        assert (files, reads) == user_truth(access_log(dsn, BACKENDS))
        assert reads[("alice", "mig-a")] == (4, 400, 1, 7, 2, "2026-11-02T12:00:00.000000Z")
        # access_log keeps one index: its (backend, path, user, date) key, now the primary key.
        assert [
            r["indexdef"].split(" USING ")[1]
            for r in query(dsn, "SELECT indexdef FROM pg_indexes WHERE tablename = 'access_log'")
        ] == ["btree (backend_name, path, user_id, date)"]

        # The worker (on this database, as its own consumer group) adds to the backfilled rollups.
        worker_cfg = tmp_path / "warpdrive.toml"
        worker_cfg.write_text(
            wconfig.dump_toml(
                {
                    **config_dict,
                    "postgres": {"dsn": dsn},
                    "streams": {**config_dict["streams"], "app_id": f"mig-{name}"},
                }
            )
        )
        batches = access_batches(21, 20, 40, BACKENDS, files=6)
        produce_batches(cfg, ACCESS, batches, "node_host")
        truth = access_truth(batches)
        for b, p, u, d, rc, br, wc, bw, la in rows:
            t = truth.get((b, p, u, d), (0, 0, 0, 0, 0, ""))
            truth[(b, p, u, d)] = (t[0] + rc, t[1] + br, t[2] + wc, t[3] + bw, t[4], max(t[5], la))
        procs = Procs(worker_cfg, tmp_path)
        try:
            procs.start("streams", "streams", "worker")
            wait_until(lambda: access_log(dsn, BACKENDS) == truth, 60, what="the worker's events applied")
        finally:
            procs.stop_all()
        assert user_rollups(dsn, BACKENDS) == user_truth(truth)
    finally:
        asyncio.run(drop_database(base, name))
