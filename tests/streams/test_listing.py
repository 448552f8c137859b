"""Listing events and crawl markers → storage_files, crawls, usage_rollup, growth_daily (real worker)."""

from __future__ import annotations

import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import crawl, live_files, query, tree, tree_recomputed, usage, usage_recomputed
from warpdrive.schemas.config import Config

pytestmark = pytest.mark.services


def _crawl_status(cfg: Config, crawl_id: str) -> str | None:
    rows = query(cfg.postgres.dsn, "SELECT status FROM crawls WHERE crawl_id = $1", crawl_id)
    return rows[0]["status"] if rows else None


def test_crawls_insert_update_delete_and_undelete(cfg: Config, procs: Procs) -> None:
    dsn, b = cfg.postgres.dsn, "lst"
    query(dsn, "INSERT INTO teams VALUES ('ana', 'vision'), ('ben', 'nlp') ON CONFLICT DO NOTHING")
    procs.start("streams", "streams", "worker")
    first = {
        "a/1.bin": {
            "size_bytes": 100,
            "owner_user": "ana",
            "last_modified": "2026-01-01T00:00:00.000000Z",
            "etag": "e1",
        },
        "a/2.bin": {"size_bytes": 200, "owner_uid": 1001},
        "b/3.bin": {"size_bytes": 300, "owner_user": "ben"},
        "b/4.bin": {"size_bytes": 400},
    }
    crawl(cfg, "c1", b, first)
    wait_until(lambda: _crawl_status(cfg, "c1") == "complete", 30, what="crawl c1 applied")
    assert live_files(dsn, b) == {
        "a/1.bin": (100, "vision", "ana", "posix"),
        "a/2.bin": (200, "unowned", "1001", "posix"),
        "b/3.bin": (300, "nlp", "ben", "posix"),
        "b/4.bin": (400, "unowned", None, "none"),
    }
    (row,) = query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1 AND path = 'a/1.bin'", b)
    assert (row["etag"], row["last_modified"].year, row["crawl_id"]) == ("e1", 2026, "c1")
    first_seen = row["first_seen"]
    assert (
        usage(dsn, b)
        == usage_recomputed(dsn, b)
        == {
            ("vision", "ana"): (1, 100),
            ("unowned", "1001"): (1, 200),
            ("nlp", "ben"): (1, 300),
            ("unowned", ""): (1, 400),
        }
    )

    # Second complete crawl: 1 grows, 3 is gone, 5 is new.
    second = {p: f for p, f in first.items() if p != "b/3.bin"}
    second["a/1.bin"] = {**first["a/1.bin"], "size_bytes": 150, "etag": "e2"}
    second["b/5.bin"] = {"size_bytes": 500, "owner_user": "ben"}
    crawl(cfg, "c2", b, second)
    wait_until(lambda: _crawl_status(cfg, "c2") == "complete", 30, what="crawl c2 applied")
    files = live_files(dsn, b)
    assert set(files) == {"a/1.bin", "a/2.bin", "b/4.bin", "b/5.bin"} and files["a/1.bin"][0] == 150
    assert query(dsn, "SELECT deleted_at FROM storage_files WHERE backend_name = $1 AND path = 'b/3.bin'", b)[0][0]
    (same,) = query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1 AND path = 'a/2.bin'", b)
    assert same["crawl_id"] == "c2" and same["first_seen"] < same["last_crawled"]  # unchanged: only seen again
    assert usage(dsn, b) == usage_recomputed(dsn, b)
    assert tree(dsn, b) == tree_recomputed(dsn, b)

    # A partial crawl (listing errors) sees only one file: nothing is deleted.
    crawl(cfg, "c3", b, {"a/1.bin": second["a/1.bin"]}, complete=False, errors=3)
    wait_until(lambda: _crawl_status(cfg, "c3") == "partial", 30, what="crawl c3 applied")
    assert set(live_files(dsn, b)) == {"a/1.bin", "a/2.bin", "b/4.bin", "b/5.bin"}

    # A complete crawl of prefix 'b' deletes only under b/; b/3.bin reappears (first_seen kept).
    crawl(cfg, "c4", b, {"b/3.bin": first["b/3.bin"]}, prefix="b")
    wait_until(lambda: _crawl_status(cfg, "c4") == "complete", 30, what="crawl c4 applied")
    assert set(live_files(dsn, b)) == {"a/1.bin", "a/2.bin", "b/3.bin"}
    (row,) = query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1 AND path = 'b/3.bin'", b)
    assert row["first_seen"] == first_seen and row["deleted_at"] is None
    assert usage(dsn, b) == usage_recomputed(dsn, b)
    assert tree(dsn, b) == tree_recomputed(dsn, b)
    growth = query(
        dsn,
        "SELECT owner_team, total_bytes, file_count FROM growth_daily WHERE backend_name = $1"
        " AND date = (SELECT max(date) FROM growth_daily WHERE backend_name = $1)",
        b,
    )
    by_team = {r["owner_team"]: (r["total_bytes"], r["file_count"]) for r in growth}
    assert by_team == {"vision": (150, 1), "unowned": (200, 1), "nlp": (300, 1)}


def test_poison_listing_is_dead_lettered_and_the_rest_applied(cfg: Config, procs: Procs) -> None:
    """A record PostgreSQL refuses (size beyond BIGINT) is isolated; the files around it are applied."""
    dsn, b = cfg.postgres.dsn, "poison"
    procs.start("streams", "streams", "worker")
    crawl(
        cfg, "p1", b, {"ok1": {"size_bytes": 1}, "huge": {"size_bytes": 2**63}, "ok2": {"size_bytes": 2}}, per_message=1
    )
    # 90 s: the worker's start and group join come first, and a batch PostgreSQL refuses is applied again one
    # message at a time
    wait_until(
        lambda: {p: v[0] for p, v in live_files(dsn, b).items()} == {"ok1": 1, "ok2": 2},
        90,
        what="the good files applied",
        explain=lambda: procs.tail("streams"),
    )
    # the huge file, and the finish marker whose byte total overflows too
    wait_until(
        lambda: len(query(dsn, "SELECT 1 FROM dead_letters WHERE error LIKE '%int64 range%'")) == 2,
        30,
        what="two dead letters",
        explain=lambda: procs.tail("streams"),
    )
    assert _crawl_status(cfg, "p1") == "running"  # no finish applied: nothing could have been deleted


def test_a_batch_led_by_a_new_file_still_applies_the_known_ones(cfg: Config, procs: Procs) -> None:
    """The worker tells a re-crawl from a first crawl by one file of the batch: a batch whose first file is
    new but whose others are indexed (unchanged, changed, deleted before) is applied as exactly."""
    dsn, b = cfg.postgres.dsn, "mixed"
    query(dsn, "INSERT INTO teams VALUES ('ben', 'nlp') ON CONFLICT DO NOTHING")
    procs.start("streams", "streams", "worker")
    first = {
        "d/1.bin": {"size_bytes": 100, "owner_user": "ben"},
        "d/2.bin": {"size_bytes": 200},
        "d/3.bin": {"size_bytes": 300},
    }
    crawl(cfg, "m1", b, first, per_message=10)
    wait_until(lambda: _crawl_status(cfg, "m1") == "complete", 30, what="crawl m1 applied")
    crawl(cfg, "m2", b, {"d/1.bin": first["d/1.bin"], "d/2.bin": first["d/2.bin"]}, per_message=10)  # 3 is gone
    wait_until(lambda: _crawl_status(cfg, "m2") == "complete", 30, what="crawl m2 applied")
    (seen,) = query(dsn, "SELECT first_seen FROM storage_files WHERE backend_name = $1 AND path = 'd/1.bin'", b)

    # One message, one batch: a new file first, then an unchanged, a grown and a reappearing file.
    crawl(
        cfg,
        "m3",
        b,
        {
            "d/0.bin": {"size_bytes": 5, "owner_user": "ben"},
            "d/1.bin": first["d/1.bin"],
            "d/2.bin": {"size_bytes": 250},
            "d/3.bin": first["d/3.bin"],
        },
        per_message=10,
    )
    wait_until(lambda: _crawl_status(cfg, "m3") == "complete", 30, what="crawl m3 applied")
    assert live_files(dsn, b) == {
        "d/0.bin": (5, "nlp", "ben", "posix"),
        "d/1.bin": (100, "nlp", "ben", "posix"),
        "d/2.bin": (250, "unowned", None, "none"),
        "d/3.bin": (300, "unowned", None, "none"),
    }
    rows = {r["path"]: r for r in query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1", b)}
    assert {p: r["crawl_id"] for p, r in rows.items()} == dict.fromkeys(rows, "m3")
    assert rows["d/1.bin"]["first_seen"] == seen["first_seen"] and rows["d/3.bin"]["deleted_at"] is None
    assert usage(dsn, b) == usage_recomputed(dsn, b) == {("nlp", "ben"): (2, 105), ("unowned", ""): (2, 550)}
    assert tree(dsn, b) == tree_recomputed(dsn, b)
