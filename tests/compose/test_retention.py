"""Retention (docs/operations.md): `warpdrive retention` beside a running worker, on real Kafka and PostgreSQL.

Events over seven months go through a real worker; the command first gives the old months (parked in the DEFAULT
partition) their partitions, then drops all but the last three months. The rows of the kept months, the per-file
last access, the per-user totals and the API's stale and user answers are the same before and after the drop, and
the worker keeps them exact afterwards (a late event of a dropped month included)."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import Procs, ready_config, scratch_database, wait_until
from tests.streams.events import (
    access_log,
    access_truth,
    crawl,
    daily,
    daily_truth,
    produce_batches,
    query,
    user_rollups,
    user_truth,
)
from warpdrive.compose.stack import Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.records import AccessEvent, format_ts
from warpdrive.schemas.retention import add_months, cutoff
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services

BACKEND = "ret-a"
USERS = ("alice", "bob", "carol")
MONTHS = 7  # the current one and six before it
KEEP = 3


def month_events(now: datetime, seed: int, per_month: int = 40) -> list[list[AccessEvent]]:
    """One batch per month, the current one first; each month reads its own few files (and some of the next
    month's), so some files were last read in a month that is dropped."""
    rnd = random.Random(seed)
    out, seq = [], 0
    for k in range(MONTHS):
        first = datetime.combine(add_months(now.date(), -k), datetime.min.time(), UTC)
        batch = []
        for _ in range(per_month):
            seq += 1
            ts = min(first + timedelta(seconds=rnd.randrange(27 * 86400)), now - timedelta(hours=1))
            op = rnd.choice(("read", "read", "write"))
            batch.append(
                AccessEvent(
                    event_id=f"ret{seed}/boot/{seq}",
                    timestamp=format_ts(ts),
                    user_id=rnd.choice(USERS),
                    backend_name=BACKEND,
                    path=f"d/f{2 * k + rnd.randrange(3)}.bin",
                    operation=op,
                    node_host=f"ret{seed}",
                    seq=seq,
                    count=rnd.randint(1, 3),
                    bytes_read=rnd.randrange(1000) if op == "read" else 0,
                    bytes_written=rnd.randrange(1000) if op == "write" else 0,
                    cache_hit=False,
                    error=None,
                )
            )
        out.append(batch)
    return out


def retention(config: Path, keep: int, *flags: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(
        [str(Path(sys.executable).with_name("warpdrive")), "retention", "--config", str(config), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "WARPDRIVE_RETENTION_KEEP_MONTHS": str(keep), **(env or {})},
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def partitions(dsn: str, table: str) -> dict[str, int]:
    """partition → its row count."""
    names = [
        r["relname"]
        for r in query(
            dsn,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = $1::regclass",
            table,
        )
    ]
    return {n: query(dsn, f'SELECT count(*) AS n FROM "{n}"')[0]["n"] for n in names}


def per_file(dsn: str) -> dict[str, tuple]:
    """path → (storage_files.last_access, file_activity.last_access)."""
    return {
        r["path"]: (r["s"], r["a"])
        for r in query(
            dsn,
            "SELECT f.path, f.last_access AS s, a.last_access AS a FROM storage_files f"
            " LEFT JOIN file_activity a USING (backend_name, path) WHERE f.backend_name = $1",
            BACKEND,
        )
    }


def api_answers(cfg: wconfig.Config) -> dict[str, Any]:
    from warpdrive.api.app import create_app

    cfg = dataclasses.replace(cfg, api=dataclasses.replace(cfg.api, insecure_no_auth=True, tokens=[]))
    out: dict[str, Any] = {}
    with TestClient(create_app(cfg), base_url=f"http://{cfg.api.listen}") as c:
        for days in (1, 40, 100):
            r = c.get("/api/v1/stale", params={"days": days, "limit": 100})
            assert r.status_code == 200, r.text
            out[f"stale {days}"] = {k: v for k, v in r.json().items() if k != "threshold"}  # now - days
        for u in USERS:
            r = c.get(f"/api/v1/user/{u}")
            assert r.status_code == 200, r.text
            out[f"user {u}"] = r.json()
    return out


def test_dropping_old_months_keeps_rollups_and_answers_exact(stack: Stack, config_dict: dict, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    with scratch_database(stack, "wdret") as dsn:
        path = tmp_path / "warpdrive.toml"
        cfg = ready_config(
            path,
            {
                **config_dict,
                "postgres": {"dsn": dsn},
                "kafka": {**config_dict["kafka"], "topic_prefix": f"ret{run}."},
                "streams": {**config_dict["streams"], "app_id": f"ret-{run}"},
            },
        )
        # A fresh database has only the DEFAULT partitions; the first run creates this month and the next two.
        out = retention(path, 24)
        this = add_months(now.date(), 0)
        assert set(partitions(dsn, "access_log")) == {
            "access_log_default",
            *(f"access_log_y{m:%Y}m{m:%m}" for m in (this, add_months(this, 1), add_months(this, 2))),
        }, out

        old_files = {
            f"d/f{i}.bin": {"size_bytes": 1000 + i, "last_modified": format_ts(now - timedelta(days=900))}
            for i in range(2 * MONTHS + 3)
        }
        crawl(cfg, f"ret-{run}", BACKEND, old_files, per_message=5)
        procs = Procs(path, tmp_path)
        try:
            procs.start("worker", "streams", "worker")
            wait_until(
                lambda: len(per_file(dsn)) == len(old_files),
                90,
                what="the crawl applied",
                explain=lambda: procs.tail("worker"),
            )
            batches = month_events(now, 1)
            produce_batches(cfg, ACCESS, batches, "node_host")
            truth = access_truth(batches)
            wait_until(
                lambda: access_log(dsn, [BACKEND]) == truth,
                90,
                what="the events applied",
                explain=lambda: procs.tail("worker"),
            )
            # The old months were written to DEFAULT (no partition yet): the next run gives each its partition.
            assert partitions(dsn, "access_log")["access_log_default"] > 0
            out = retention(path, 24)
            assert "moving" in out
            assert partitions(dsn, "access_log")["access_log_default"] == 0
            assert partitions(dsn, "access_daily")["access_daily_default"] == 0
            assert access_log(dsn, [BACKEND]) == truth and daily(dsn, [BACKEND]) == daily_truth(truth)

            before = (user_rollups(dsn, [BACKEND]), per_file(dsn), api_answers(cfg))
            assert before[0] == user_truth(truth)
            assert any(s is not None and s.date() < cutoff(now.date(), KEEP) for s, _ in before[1].values()), (
                "no file was last read in a month that is dropped: the test would prove nothing"
            )

            parts = partitions(dsn, "access_log")
            dry = retention(path, KEEP, "--dry-run")
            assert "would drop" in dry and partitions(dsn, "access_log") == parts

            out = retention(path, KEEP)
            first_kept = cutoff(now.date(), KEEP).isoformat()
            assert set(partitions(dsn, "access_log")) == {
                "access_log_default",
                *(f"access_log_y{m:%Y}m{m:%m}" for m in (add_months(this, i) for i in range(1 - KEEP, 3))),
            }, out
            kept = {k: v for k, v in truth.items() if k[3] >= first_kept}
            assert len(kept) < len(truth)
            assert access_log(dsn, [BACKEND]) == kept
            assert daily(dsn, [BACKEND]) == daily_truth(kept)
            assert (user_rollups(dsn, [BACKEND]), per_file(dsn), api_answers(cfg)) == before

            # The worker keeps going: new events on old files and a late event of a dropped month add to the
            # totals exactly (a file read again is not counted as a new one); the late row is purged next run.
            more = month_events(now, 2, per_month=10)[:1]
            late = dataclasses.replace(
                more[0][0],
                event_id="ret2/boot/late",
                seq=10_000,
                operation="read",
                count=1,
                timestamp=format_ts(datetime.combine(add_months(now.date(), -MONTHS), datetime.min.time(), UTC)),
            )
            produce_batches(cfg, ACCESS, [*more, [late]], "node_host")
            everything = access_truth([*batches, *more, [late]])
            wait_until(
                lambda: user_rollups(dsn, [BACKEND]) == user_truth(everything),
                90,
                what="the later events applied",
                explain=lambda: procs.tail("worker"),
            )
            assert partitions(dsn, "access_log")["access_log_default"] == 1
            out = retention(path, KEEP)
            assert "purge  access_log_default: 1 row(s)" in out
            assert access_log(dsn, [BACKEND]) == {k: v for k, v in everything.items() if k[3] >= first_kept}
            assert user_rollups(dsn, [BACKEND]) == user_truth(everything)
        finally:
            procs.stop_all()


def test_retention_refuses_an_unpartitioned_database_with_one_line(
    stack: Stack, config_dict: dict, tmp_path: Path
) -> None:
    with scratch_database(stack, "wdret") as dsn:
        path = tmp_path / "warpdrive.toml"
        path.write_text(wconfig.dump_toml({**config_dict, "postgres": {"dsn": dsn}}))
        r = subprocess.run(
            [str(Path(sys.executable).with_name("warpdrive")), "retention", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1
        assert r.stderr.strip() == "Error: access_log is not partitioned by month: run `warpdrive migrate` first"
        r = subprocess.run(
            [str(Path(sys.executable).with_name("warpdrive")), "retention", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"WARPDRIVE_RETENTION_KEEP_MONTHS": "0", "PATH": "/usr/bin:/bin"},
        )
        assert r.returncode == 1 and "retention.keep_months" in r.stderr and "Traceback" not in r.stderr


def test_retention_prunes_dedupe_marks_not_seen_for_producer_days(
    stack: Stack, config_dict: dict, tmp_path: Path
) -> None:
    """access_producers (streams/dedupe.py) grows by one row per agent start: the marks not seen for
    retention.producer_days go, the others stay; a setting below the access topic's retention is refused."""
    with scratch_database(stack, "wdret") as dsn:
        path = tmp_path / "warpdrive.toml"
        ready_config(path, {**config_dict, "postgres": {"dsn": dsn}})
        ages = {"gone/a": 45, "gone/b": 31, "edge/a": 29, "fresh/a": 0}  # days since last seen
        query(
            dsn,
            "INSERT INTO access_producers (producer, last_seq, updated_at) "
            "SELECT p, 7, now() - make_interval(days => d) FROM unnest($1::text[], $2::int[]) AS u(p, d)",
            list(ages),
            list(ages.values()),
        )

        def marks() -> set[str]:
            return {r["producer"] for r in query(dsn, "SELECT producer FROM access_producers")}

        out = retention(path, 13, "--dry-run")
        assert "would prune  access_producers: 2 agent instance(s) not seen since" in out, out
        assert marks() == set(ages)
        out = retention(path, 13)
        assert "2 dedupe mark(s) pruned" in out, out
        assert marks() == {"edge/a", "fresh/a"}
        assert "0 dedupe mark(s) pruned" in retention(path, 13)  # a rerun has nothing left to do
        out = retention(path, 13, env={"WARPDRIVE_RETENTION_PRODUCER_DAYS": "28"})
        assert "1 dedupe mark(s) pruned" in out and marks() == {"fresh/a"}, out

        r = subprocess.run(
            [str(Path(sys.executable).with_name("warpdrive")), "retention", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "WARPDRIVE_RETENTION_PRODUCER_DAYS": "3"},
        )
        assert r.returncode == 1 and "retention.producer_days" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert marks() == {"fresh/a"}
