"""Kill -9 of the worker, the broker and PostgreSQL mid-stream: every aggregate still equals ground truth.

Runs on a PRIVATE stack (it kills Kafka and PostgreSQL), with small batches so kills land between and
inside many transactions.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import Procs, ready_config, wait_until
from tests.streams.events import (
    access_batches,
    access_log,
    access_truth,
    crawl,
    live_files,
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
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services

BACKENDS = ("k1", "k2")


@pytest.fixture
def private(tmp_path: Path, private_stack) -> Iterator[tuple[Stack, wconfig.Config, Procs]]:
    st = private_stack(("postgres", "kafka"))
    raw = st.config_dict(
        {
            "postgres": {"dsn": st.postgres_dsn()},
            "streams": {"app_id": "kill-test", "batch_size": 4, "batch_within": 0.1, "batch_records": 200},
            "teams": {"alice": "vision", "bob": "nlp", "carol": "vision"},
        }
    )
    path = tmp_path / "warpdrive.toml"
    cfg = ready_config(path, raw)
    procs = Procs(path, tmp_path)
    try:
        yield st, cfg, procs
    finally:
        procs.stop_all()


def _files(n: int, seed: int) -> dict[str, dict[str, Any]]:
    return {
        f"data/dir{i % 4}/f{i}.bin": {"size_bytes": 1000 * (i + 1) + seed, "owner_user": ("alice", "bob")[i % 2]}
        for i in range(n)
    }


def _progress(cfg: wconfig.Config) -> int:
    try:
        return query(cfg.postgres.dsn, "SELECT coalesce(sum(next_offset), 0) AS n FROM stream_offsets")[0]["n"]
    except Exception:
        return -1


def _mid_stream(cfg: wconfig.Config, start: int) -> None:
    """Waits until the worker has applied something beyond ``start``: the kill then lands mid-stream."""
    wait_until(lambda: _progress(cfg) > start, 60, interval=0.05, what="progress before the kill")


def test_kill_worker_broker_and_postgres_mid_stream(private: tuple[Stack, wconfig.Config, Procs]) -> None:
    st, cfg, procs = private
    dsn = cfg.postgres.dsn
    query(dsn, "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ('vision', NULL, 10, 1e12)")
    a = access_batches(11, 120, 60, BACKENDS, files=60)
    b = access_batches(12, 120, 60, BACKENDS, files=60)
    c = access_batches(13, 120, 60, BACKENDS, files=60)
    files_1, files_2 = _files(80, 0), {**_files(60, 7), "data/new.bin": {"size_bytes": 5, "owner_user": "carol"}}

    # 1. kill -9 the worker mid-stream, then restart it.
    crawl(cfg, "k-1", "k1", files_1, per_message=5)
    produce_batches(cfg, ACCESS, a, "node_host")
    procs.start("streams", "streams", "worker")
    _mid_stream(cfg, 0)
    procs.kill("streams")
    procs.start("streams", "streams", "worker")

    # 2. kill -9 the broker mid-stream, restart it (the worker keeps running, or is restarted if it gave up).
    produce_batches(cfg, ACCESS, b, "node_host")
    crawl(cfg, "k-2", "k1", files_2, per_message=5)
    _mid_stream(cfg, _progress(cfg))
    st.kill("kafka")
    time.sleep(1)
    st.start_kafka()
    if procs.procs["streams"].poll() is not None:
        procs.start("streams", "streams", "worker")

    # 3. kill -9 PostgreSQL mid-stream, restart it.
    produce_batches(cfg, ACCESS, c, "node_host")
    crawl(cfg, "k-3", "k2", files_1, per_message=5, complete=False, errors=1)
    _mid_stream(cfg, _progress(cfg))
    st.kill("postgres")
    wait_until(lambda: st.pid("postgres") is None, 30, what="PostgreSQL gone")
    st.start_postgres()  # forgets the stale pid file and pgserver's cached server
    if procs.procs["streams"].poll() is not None:
        procs.start("streams", "streams", "worker")

    # 4. Two workers; one is stopped gracefully while PostgreSQL is down. It abandons the batch it was
    # retrying, and Faust acks and commits that batch on the way out; the other worker is handed the
    # partitions at those commits before PostgreSQL is back, and must still apply every message.
    wait_until(
        lambda: _safe(lambda: access_log(dsn, BACKENDS)) == access_truth(a + b + c),
        120,
        interval=0.5,
        what="caught up before step 4",
    )
    procs.start("streams2", "streams", "worker")
    wait_until(lambda: "Resuming flow" in procs.log("streams2"), 60, what="second worker assigned its partitions")
    st.kill("postgres")
    wait_until(lambda: st.pid("postgres") is None, 30, what="PostgreSQL gone")
    d = access_batches(14, 40, 60, BACKENDS, files=60)
    produce_batches(cfg, ACCESS, d, "node_host")
    time.sleep(3)  # both workers take batches and retry them
    procs.kill("streams", signal.SIGTERM)
    assert "left unapplied" in procs.log("streams"), procs.tail("streams")
    time.sleep(5)  # the rebalance hands its partitions over
    st.start_postgres()

    truth = access_truth(a + b + c + d)
    wait_until(
        lambda: _safe(lambda: access_log(dsn, BACKENDS)) == truth,
        120,
        interval=0.5,
        what="access_log == ground truth after the kills",
    )
    expected_k1 = {p: f["size_bytes"] for p, f in files_2.items()}
    wait_until(
        lambda: {p: v[0] for p, v in live_files(dsn, "k1").items()} == expected_k1, 60, what="k1 index == second crawl"
    )
    wait_until(
        lambda: {p: v[0] for p, v in live_files(dsn, "k2").items()} == {p: f["size_bytes"] for p, f in files_1.items()},
        60,
        what="k2 index == partial crawl",
    )
    for backend in BACKENDS:
        assert usage(dsn, backend) == usage_recomputed(dsn, backend)
        assert tree(dsn, backend) == tree_recomputed(dsn, backend)
    daily = query(dsn, "SELECT sum(read_count) AS r, sum(bytes_read) AS br, sum(files) AS f FROM access_daily")[0]
    assert (daily["r"], daily["br"], daily["f"]) == (
        sum(v[0] for v in truth.values()),
        sum(v[1] for v in truth.values()),
        len(truth),
    )
    assert user_rollups(dsn, BACKENDS) == user_truth(truth)
    growth = query(
        dsn, "SELECT sum(total_bytes) AS s FROM growth_daily WHERE date = (SELECT max(date) FROM growth_daily)"
    )
    assert growth[0]["s"] == sum(expected_k1.values()) + sum(f["size_bytes"] for f in files_1.values())
    # per-file last_access equals the max over reads and writes of the ground truth
    la = {(r["backend_name"], r["path"]): r["last_access"] for r in query(dsn, "SELECT * FROM file_activity")}
    want: dict[tuple[str, str], str] = {}
    for batch in a + b + c + d:
        for e in batch:
            if e.operation in ("read", "write"):
                k = (e.backend_name, e.path)
                want[k] = max(want.get(k, ""), e.timestamp)
    from warpdrive.schemas.records import format_ts

    assert {k: format_ts(v) for k, v in la.items() if v is not None} == want
    assert query(dsn, "SELECT level FROM quota_state WHERE team_name = 'vision'")[0]["level"] == "soft"


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # PostgreSQL may still be starting
        return None
