"""tree_dirs.inactive_bytes (the key of GET /api/v1/tree?sort=stale) kept by the real worker: deltas counted
against the stored boundary, and the buckets a moved boundary passes over folded in by the next batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import crawl, produce_batches, query, tree, tree_recomputed
from warpdrive.schemas.db import migrations
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, format_ts
from warpdrive.schemas.topics import ACCESS
from warpdrive.schemas.tree import STALE_SORT_DAYS, stale_through

pytestmark = pytest.mark.services


def test_stale_bytes_follow_reads_and_a_moved_boundary(cfg: Config, procs: Procs) -> None:
    dsn, b = cfg.postgres.dsn, "stl"
    now = datetime.now(UTC)
    due = stale_through(STALE_SORT_DAYS, now)
    procs.start("streams", "streams", "worker")
    crawl(
        cfg,
        "stl1",
        b,
        {
            "old/a.bin": {"size_bytes": 100},
            "old/b.bin": {"size_bytes": 200},
            "new/c.bin": {"size_bytes": 300},
            "new/d.bin": {"size_bytes": 400},
        },
    )
    wait_until(
        lambda: len(query(dsn, "SELECT 1 FROM storage_files WHERE backend_name = $1", b)) == 4,
        30,
        what="crawl stl1 applied",
    )
    # a: read 130 days ago; b: 100 days ago (its week ended more than 90 days ago); c: today; d: never.
    reads = {"old/a.bin": 130, "old/b.bin": 100, "new/c.bin": 0}
    produce_batches(
        cfg,
        ACCESS,
        [
            [
                AccessEvent(
                    f"n/stl/{i}", format_ts(now - timedelta(days=ago)), "u", b, p, "read", "n", seq=i, bytes_read=1
                )
                for i, (p, ago) in enumerate(reads.items())
            ]
        ],
        "node_host",
    )
    wait_until(
        lambda: query(dsn, "SELECT count(last_access) FROM storage_files WHERE backend_name = $1", b)[0][0] == 3,
        30,
        what="the reads applied",
    )
    dirs = wait_until(
        lambda: (t := tree(dsn, b))[0] == tree_recomputed(dsn, b)[0] and t[0],
        30,
        what="the tree to equal its recomputation",
    )
    assert query(dsn, "SELECT through FROM tree_stale")[0][0] == due
    assert dirs == {"": (4, 1000, 0), "old": (2, 300, 300), "new": (2, 700, 400)}  # a root keeps no sort key

    # A tree kept under a boundary 5 weeks older (as the workers left it before the clock moved): b's week
    # is after it. The next batch moves the boundary and folds the buckets it passed over.
    # (Every backend's, so the others stay consistent with the one boundary.)
    old = due - timedelta(weeks=5)
    query(dsn, "UPDATE tree_stale SET through = $1", old)
    query(
        dsn,
        """UPDATE tree_dirs d SET inactive_bytes = COALESCE((SELECT sum(total_bytes) FROM tree_inactive a
                      WHERE a.backend_name = d.backend_name AND a.dir = d.dir AND a.period <= $1), 0)
           WHERE d.dir <> ''""",
        old,
    )
    assert tree(dsn, b)[0]["old"] == (2, 300, 100)
    crawl(cfg, "stl2", b, {"new/e.bin": {"size_bytes": 50}}, complete=False)
    wait_until(lambda: query(dsn, "SELECT through FROM tree_stale")[0][0] == due, 30, what="the boundary moved")
    assert tree(dsn, b) == tree_recomputed(dsn, b)
    assert tree(dsn, b)[0] == {"": (5, 1050, 0), "old": (2, 300, 300), "new": (3, 750, 450)}


def test_the_tree_counts_stale_as_the_list_does(cfg: Config, procs: Procs) -> None:
    """A never-read file modified this week is not stale in the tree either (issue 15); the migration that
    rebuilds existing trees under that rule gives what the workers keep."""
    dsn, b = cfg.postgres.dsn, "stl-rule"
    now = datetime.now(UTC)
    procs.start("streams", "streams", "worker")
    crawl(
        cfg,
        "stlr1",
        b,
        {
            "x/new.bin": {"size_bytes": 10, "last_modified": format_ts(now - timedelta(days=1))},
            "x/old.bin": {"size_bytes": 20, "last_modified": format_ts(now - timedelta(days=200))},
            "x/y/z/deep.bin": {"size_bytes": 40, "last_modified": format_ts(now - timedelta(days=300))},
            "top.bin": {"size_bytes": 80},
        },
    )
    produce_batches(
        cfg,
        ACCESS,
        [[AccessEvent("n/stlr/1", format_ts(now - timedelta(days=2)), "u", b, "x/old.bin", "read", "n", seq=1)]],
        "node_host",
    )
    wait_until(
        lambda: query(dsn, "SELECT count(last_access) FROM storage_files WHERE backend_name = $1", b)[0][0] == 1,
        30,
        what="the read applied",
    )
    wait_until(
        lambda: (t := tree(dsn, b)) == tree_recomputed(dsn, b) and t[0].get("x", (0,))[0] == 3,
        30,
        what="the tree to equal its recomputation",
    )
    dirs = tree(dsn, b)[0]
    # Stale for 90 days: deep.bin (modified 300 days ago) and top.bin (no activity known) only.
    assert {d: v[2] for d, v in dirs.items()} == {"": 0, "x": 40, "x/y": 40, "x/y/z": 40}  # no key at the root
    kept = tree(dsn, b)
    sql = next(m.sql for m in migrations() if m.name.endswith("tree_stale_rule"))

    async def rebuild() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(rebuild())
    query(dsn, "UPDATE tree_dirs SET inactive_bytes = 0 WHERE dir = ''")  # and a later migration's (0070) for roots
    assert tree(dsn, b) == kept
