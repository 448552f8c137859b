"""Two real workers of one consumer group, rebalanced mid-stream (a join, a graceful leave, a kill -9): every
aggregate still equals a recomputation from the events, and the shared rollups were written in several shards
(issue 21: batches of different workers never contend for one row).

Real Kafka and PostgreSQL (the session stack) with a database, topics and consumer group of this test's own;
small batches, so the rebalances land between and inside many transactions.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Procs, ready_config, wait_until
from tests.streams.events import (
    access_batches,
    access_log,
    access_truth,
    coverage,
    coverage_truth,
    crawl,
    daily,
    daily_truth,
    produce_batches,
    query,
    tree,
    tree_recomputed,
    usage,
    usage_recomputed,
    user_rollups,
    user_truth,
)
from warpdrive.compose.stack import Stack
from warpdrive.schemas.db import create_database, drop_database
from warpdrive.schemas.records import format_ts
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services

BACKENDS = ("sc1", "sc2")


def _wave(seed: int) -> list[list[Any]]:
    """Events of 8 nodes (keys spread over the partitions), 30 messages of 20 each."""
    return [b for node in range(8) for b in access_batches(seed * 100 + node, 30, 20, BACKENDS, files=60)]


def _progress(dsn: str) -> int:
    return query(dsn, "SELECT coalesce(sum(next_offset), 0) AS n FROM stream_offsets WHERE topic LIKE '%access%'")[0][
        "n"
    ]


def test_two_workers_join_leave_and_kill_mid_stream(stack: Stack, config_dict: dict, tmp_path: Path) -> None:
    base = stack.postgres_dsn()
    name = f"wdscale_{uuid.uuid4().hex[:8]}"
    dsn = asyncio.run(create_database(base, name))
    path = tmp_path / "warpdrive.toml"
    cfg = ready_config(
        path,
        {
            **config_dict,
            "postgres": {"dsn": dsn},
            "kafka": {**config_dict["kafka"], "topic_prefix": f"{name}."},
            "streams": {"app_id": name, "batch_size": 4, "batch_within": 0.1, "batch_records": 150},
            "teams": {"alice": "vision", "bob": "nlp", "carol": "vision"},
        },
    )
    procs = Procs(path, tmp_path)
    try:
        # Indexed files, so access also moves per-file last access, owners (creators), usage and the tree.
        for backend in BACKENDS:
            crawl(
                cfg,
                f"{backend}-1",
                backend,
                {f"data/dir{i % 4}/f{i}.bin": {"size_bytes": 1000 + i, "owner_user": "bob"} for i in range(60)},
                per_message=10,
            )
        waves = [_wave(1), _wave(2), _wave(3)]

        # 1. one worker; a second joins mid-stream (rebalance: partitions move to it).
        produce_batches(cfg, ACCESS, waves[0], "node_host")
        procs.start("a", "streams", "worker")
        wait_until(lambda: _progress(dsn) > 0, 60, interval=0.05, what="worker a applying")
        procs.start("b", "streams", "worker")
        produce_batches(cfg, ACCESS, waves[1], "node_host")
        wait_until(lambda: "Resuming flow" in procs.log("b"), 60, what="worker b assigned partitions")

        # 2. a leaves gracefully mid-stream (its partitions go back to b), then joins again.
        start = _progress(dsn)
        produce_batches(cfg, ACCESS, waves[2], "node_host")
        wait_until(lambda: _progress(dsn) > start, 60, interval=0.05, what="progress before a leaves")
        procs.kill("a", signal.SIGTERM)
        procs.start("a", "streams", "worker")

        # 3. b is killed -9 mid-stream (its partitions move to a after the session timeout).
        more = [_wave(4)]
        produce_batches(cfg, ACCESS, more[0], "node_host")
        start = _progress(dsn)
        wait_until(lambda: _progress(dsn) > start, 60, interval=0.05, what="progress before b is killed")
        procs.kill("b")

        events = [b for w in waves + more for b in w]
        truth = access_truth(events)
        wait_until(
            lambda: access_log(dsn, BACKENDS) == truth,
            180,
            interval=0.5,
            what="access_log == ground truth" + procs.tail("a"),
        )
        # Every aggregate, recomputed from the events (or, for usage and the tree, from the index).
        assert daily(dsn, BACKENDS) == daily_truth(truth)
        assert user_rollups(dsn, BACKENDS) == user_truth(truth)
        assert coverage(dsn, BACKENDS) == coverage_truth(events)
        for backend in BACKENDS:
            assert usage(dsn, backend) == usage_recomputed(dsn, backend)
            assert tree(dsn, backend) == tree_recomputed(dsn, backend)
        # growth_daily: today's end-of-day totals per team are the index's (files were crawled and re-owned today)
        growth = {
            (r["backend_name"], r["owner_team"]): (r["file_count"], r["total_bytes"])
            for r in query(
                dsn, "SELECT * FROM growth_daily WHERE date = (now() AT TIME ZONE 'UTC')::date AND total_bytes <> 0"
            )
        }
        assert growth == {
            (r["backend_name"], r["owner_team"]): (r["n"], r["s"])
            for r in query(
                dsn,
                "SELECT backend_name, owner_team, count(*) AS n, sum(size_bytes) AS s FROM storage_files"
                " WHERE deleted_at IS NULL GROUP BY 1, 2",
            )
        }
        want: dict[tuple[str, str], str] = {}
        for batch in events:
            for e in batch:
                if e.operation in ("read", "write"):
                    want[(e.backend_name, e.path)] = max(want.get((e.backend_name, e.path), ""), e.timestamp)
        for table in ("file_activity", "storage_files"):  # every file accessed / the indexed ones
            rows = query(dsn, f"SELECT backend_name, path, last_access FROM {table}")
            got = {(r["backend_name"], r["path"]): format_ts(r["last_access"]) for r in rows if r["last_access"]}
            assert got == {k: v for k, v in want.items() if k in {(r["backend_name"], r["path"]) for r in rows}}, table
        # The workers wrote the shared rollups in more than one shard (each batch into its lowest partition's).
        for table in ("access_daily", "tree_activity", "tree_inactive"):
            shards = query(dsn, f"SELECT count(DISTINCT shard) AS n FROM {table}")[0]["n"]
            assert shards > 1, f"all batches wrote one shard of {table}: the two workers' batches would contend"
    finally:
        procs.stop_all()
        asyncio.run(drop_database(base, name))
