"""What docs/operations.md promises an operator, on real PostgreSQL (and Kafka): an upgrade from the previous
release's schema keeps every stored aggregate; a pg_dump restored into a new database lets the workers resume
exactly once from the offsets stored with the aggregates."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import asyncpg
import pytest

from tests.helpers import Procs, on_connection, scratch_database, table_contents, wait_until
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
from warpdrive.schemas import db
from warpdrive.schemas.topics import ACCESS, ensure_topics

pytestmark = pytest.mark.services

# A migration that reshapes stored rows (moves a table's rows elsewhere, drops or rewrites a column) says here how
# the old rows are recomputed from the new schema: table → a query returning exactly the old table's rows (its old
# columns, by name). Without an entry, the upgrade must leave the table's rows, in the columns it had, unchanged.
EQUIVALENTS: dict[str, str] = {}
# Columns a migration drops on purpose because nothing reads them any more (derived data replaced by another
# column); every other column must survive the upgrade with its rows unchanged.
DROPPED: dict[str, set[str]] = {"tree_dirs": {"stale_bytes"}}  # 0060 replaced it with inactive_bytes

ROWS = 200  # per table
BACKENDS = ("bak-a", "bak-b")


def _value(data_type: str, udt: str) -> str:
    """An expression of row number ``i`` for a column of this type: distinct per row (keys stay unique), never
    negative (CHECKs such as hard >= soft hold since every number column of a row has the same value)."""
    return {
        "text": "'v' || i",
        "character varying": "'v' || i",
        "character": "chr(97 + i % 26)",
        "integer": "i",
        "bigint": "i * 1000",
        "smallint": "i",
        "double precision": "i * 1.5",
        "real": "i * 1.5",
        "numeric": "i",
        "boolean": "true",
        "date": "DATE '2026-01-01' + i",
        "timestamp with time zone": "TIMESTAMPTZ '2026-01-01 00:00Z' + i * INTERVAL '1 hour'",
        "timestamp without time zone": "TIMESTAMP '2026-01-01' + i * INTERVAL '1 hour'",
        "jsonb": "jsonb_build_object('i', i)",
        "json": "json_build_object('i', i)",
        "bytea": "convert_to('v' || i, 'UTF8')",
        "uuid": "md5(i::text)::uuid",
    }.get(data_type) or ("ARRAY['v' || i]" if udt == "_text" else "")


async def fill_every_table(conn: asyncpg.Connection) -> dict[str, int]:
    """ROWS rows in every table (columns with a default sequence or identity take it), as a database in use holds."""
    cols = await conn.fetch(
        """SELECT c.table_name, c.column_name, c.data_type, c.udt_name,
                  c.is_identity = 'YES' OR coalesce(c.column_default, '') LIKE 'nextval(%' AS generated
           FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'
           ORDER BY c.table_name, c.ordinal_position"""
    )
    by_table: dict[str, list[tuple[str, str]]] = {}
    for c in cols:
        if not c["generated"]:
            expr = _value(c["data_type"], c["udt_name"])
            assert expr, f"no generator for {c['table_name']}.{c['column_name']} ({c['data_type']}): add one"
            by_table.setdefault(c["table_name"], []).append((c["column_name"], expr))
    counts = {}
    for table, pairs in by_table.items():
        names = ", ".join(f'"{n}"' for n, _ in pairs)
        exprs = ", ".join(e for _, e in pairs)
        await conn.execute(
            f'INSERT INTO "{table}" ({names}) SELECT {exprs} FROM generate_series(1, {ROWS}) i ON CONFLICT DO NOTHING'
        )
        counts[table] = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
    return counts


@pytest.fixture
def new_database(stack: Stack) -> Iterator[str]:
    with scratch_database(stack, "wdops") as dsn:
        yield dsn


def _columns(dsn: str) -> dict[str, set[str]]:
    rows = on_connection(
        dsn,
        lambda c: c.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ),
    )
    out: dict[str, set[str]] = {}
    for r in rows:  # type: ignore[union-attr]
        out.setdefault(r["table_name"], set()).add(r["column_name"])
    return out


def test_upgrade_from_the_previous_release_keeps_every_aggregate(new_database: str) -> None:
    released = sorted(int(name[:4]) for name in db.released())
    previous = released[-1]
    on_connection(new_database, lambda c: db.migrate(c, upto=previous))
    counts = on_connection(new_database, fill_every_table)
    assert all(n > 0 for n in counts.values()), counts  # type: ignore[union-attr]
    old_columns = {t: cols for t, cols in _columns(new_database).items() if t in counts}  # type: ignore[operator]
    before = table_contents(new_database, exclude_columns=DROPPED)

    applied = on_connection(new_database, db.migrate)
    assert applied == [m.version for m in db.migrations() if m.version > previous]
    on_connection(new_database, db.check_schema)

    after_columns = _columns(new_database)
    kept = {t: cols for t, cols in old_columns.items() if t not in EQUIVALENTS}
    for t, cols in DROPPED.items():
        assert cols <= old_columns[t] and not cols & after_columns.get(t, set()), f"{t}.{sorted(cols)}: not dropped"
    kept = {t: cols - DROPPED.get(t, set()) for t, cols in kept.items()}
    for t, cols in kept.items():
        missing = cols - after_columns.get(t, set())
        assert not missing, f"the upgrade removed {t}.{sorted(missing)}: add an EQUIVALENTS entry that recomputes it"
    after = table_contents(new_database, columns=kept)
    for t in kept:
        assert after[t] == before[t], f"the upgrade changed the rows of {t}"
    for t, sql in EQUIVALENTS.items():
        rows = on_connection(
            new_database, lambda c, sql=sql: c.fetch(f"SELECT to_jsonb(r)::text AS doc FROM ({sql}) r")
        )
        import orjson

        got = sorted(orjson.dumps(orjson.loads(r["doc"]), option=orjson.OPT_SORT_KEYS).decode() for r in rows)  # type: ignore[union-attr]
        assert got == before[t], f"{t} recomputed from the new schema differs from the rows before the upgrade"


def _pg_tool(name: str, *args: str) -> None:
    exe = str(Path(db.pg_dump_exe()).with_name(name))
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{name}: {r.stderr}"


def test_restore_from_pg_dump_resumes_exactly_once(stack: Stack, config_dict: dict, tmp_path: Path) -> None:
    """The backup is taken while a worker runs; the worker then applies more events (Kafka's committed group offsets
    move past the backup); the database is lost and restored from the dump into a new database. A worker on the
    restored database applies what the backup missed from the offsets stored in it — every aggregate equals the
    truth of all events, none counted twice."""
    base = stack.postgres_dsn()
    run = uuid.uuid4().hex[:8]
    names = {"lost": f"wdbak_{run}", "restored": f"wdres_{run}"}
    dsns = {k: asyncio.run(db.create_database(base, n)) for k, n in names.items()}
    try:

        def conf(which: str) -> Path:
            p = tmp_path / f"{which}.toml"
            p.write_text(
                wconfig.dump_toml(
                    {
                        **config_dict,
                        "postgres": {"dsn": dsns[which]},
                        "kafka": {**config_dict["kafka"], "topic_prefix": f"bak{run}."},
                        "streams": {**config_dict["streams"], "app_id": f"bak-{run}"},
                    }
                )
            )
            return p

        cfg = wconfig.load(conf("lost"))
        asyncio.run(ensure_topics(cfg.kafka))
        on_connection(dsns["lost"], db.migrate)
        first, second = access_batches(31, 12, 30, BACKENDS), access_batches(32, 12, 30, BACKENDS)
        procs = Procs(conf("lost"), tmp_path)
        try:
            procs.start("worker", "streams", "worker")
            produce_batches(cfg, ACCESS, first, "node_host")
            wait_until(
                lambda: access_log(dsns["lost"], BACKENDS) == access_truth(first),
                90,
                what="the first events",
                explain=lambda: procs.tail("worker"),
            )
            dump = tmp_path / "warpdrive.dump"
            _pg_tool("pg_dump", "--format=custom", "--no-owner", "--file", str(dump), "--dbname", dsns["lost"])
            produce_batches(cfg, ACCESS, second, "node_host")
            wait_until(
                lambda: access_log(dsns["lost"], BACKENDS) == access_truth([*first, *second]),
                90,
                what="the second events",
                explain=lambda: procs.tail("worker"),
            )
        finally:
            procs.stop_all()
        asyncio.run(db.drop_database(base, names["lost"]))  # the disaster

        _pg_tool("pg_restore", "--no-owner", "--exit-on-error", "--dbname", dsns["restored"], str(dump))
        assert access_log(dsns["restored"], BACKENDS) == access_truth(first)  # the backup's point in time
        on_connection(dsns["restored"], db.check_schema)
        procs = Procs(conf("restored"), tmp_path)
        try:
            procs.start("worker2", "streams", "worker")
            truth = access_truth([*first, *second])
            wait_until(
                lambda: access_log(dsns["restored"], BACKENDS) == truth,
                90,
                what="the missed events re-applied",
                explain=lambda: procs.tail("worker2"),
            )
            # Exactly once: the stored offsets are the topic's end, and no rollup holds an event twice.
            ends = query(
                dsns["restored"],
                "SELECT sum(next_offset) AS n FROM stream_offsets WHERE topic = $1",
                ACCESS.full_name(cfg.kafka),
            )[0]["n"]
            assert ends == len(first) + len(second)
            assert user_rollups(dsns["restored"], BACKENDS) == user_truth(truth)
        finally:
            procs.stop_all()
    finally:
        for n in names.values():
            asyncio.run(db.drop_database(base, n))
