"""Paths canonical at the contract, bad records refused alone: a real worker, real Kafka, real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import crawl, produce_batches, query
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent
from warpdrive.schemas.topics import ACCESS, LISTING

pytestmark = pytest.mark.services


def _ev(i: int, path: str, **kw: object) -> AccessEvent:
    return AccessEvent(
        event_id=f"c/b/{i}",
        timestamp="2026-11-20T08:00:00.000000Z",
        user_id="u",
        backend_name="s3",
        path=path,
        operation="read",
        node_host="c",
        seq=i,
        **kw,
    )  # type: ignore[arg-type]


def test_one_file_one_row_and_bad_records_dead_lettered_alone(cfg: Config, procs: Procs) -> None:
    # The index knows ct/x.bin; telemetry names it five ways, and two records of the same message are bad.
    crawl(
        cfg,
        "ct-1",
        "s3",
        {"ct/x.bin": {"size_bytes": 10}, "//ct//y.bin": {"size_bytes": 20}, "ct/neg.bin": {"size_bytes": -5}},
        per_message=3,
    )
    produce_batches(
        cfg,
        ACCESS,
        [
            [
                _ev(1, "ct/x.bin"),
                _ev(2, "/ct/x.bin"),
                _ev(3, "./ct//x.bin"),
                _ev(4, "s3://warpdrive-demo/ct/x.bin"),
                _ev(5, "ct/../etc/passwd"),
                _ev(6, "/ct/x.bin", bytes_read=-100),
                _ev(7, "ct/x.bin/", bytes_read=7),
            ]
        ],
        "node_host",
    )
    procs.start("streams", "streams", "worker")
    dsn = cfg.postgres.dsn
    wait_until(
        lambda: query(dsn, "SELECT 1 FROM access_log WHERE backend_name = 's3' AND path LIKE 'ct/%'"),
        60,
        what="the access batch applied",
        explain=lambda: procs.tail("streams"),
    )
    rows = query(
        dsn,
        "SELECT path, sum(read_count) AS r, sum(bytes_read) AS b FROM access_log"
        " WHERE backend_name = 's3' AND path LIKE '%ct/%' GROUP BY 1",
    )
    assert [(r["path"], r["r"], r["b"]) for r in rows] == [("ct/x.bin", 5, 7)]
    files = {
        r["path"]: r["last_access"]
        for r in query(
            dsn, "SELECT path, last_access FROM storage_files WHERE backend_name = 's3' AND path LIKE '%ct/%'"
        )
    }
    assert set(files) == {"ct/x.bin", "ct/y.bin"} and files["ct/x.bin"] is not None  # read: no longer stale
    dead = query(
        dsn,
        "SELECT topic, record, error, payload FROM dead_letters WHERE record IS NOT NULL"
        " AND topic = ANY($1::text[]) ORDER BY topic, record",
        [ACCESS.full_name(cfg.kafka), LISTING.full_name(cfg.kafka)],
    )
    assert [(d["topic"] == ACCESS.full_name(cfg.kafka), d["record"], d["error"].split()[0]) for d in dead] == [
        (True, 4, "path"),
        (True, 5, "bytes_read"),
        (False, 2, "size_bytes"),
    ]
    assert b'"ct/../etc/passwd"' in dead[0]["payload"] and b"c/b/6" in dead[1]["payload"]
