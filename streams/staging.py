"""Temporary staging tables: how a batch's rows reach PostgreSQL.

COPY (binary) into a temporary table, then one set-based statement from it, costs the worker and the
server several times less per row than the same rows as array parameters (asyncpg checks every array
element in Python; the server parses them one by one). The table lives until the end of the
transaction, so a failed batch leaves nothing behind.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import asyncpg


async def stage(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    records: Iterable[Sequence[Any]],
    joined: bool = False,
) -> None:
    """Creates ``table`` (``columns``: name and SQL type) empty for this transaction and COPYs ``records``
    into it. ``table`` and the column names are constants of the calling module, never input.
    ``joined``: the table will be joined against a large one (not only upserted from)."""
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    # Drop first: a second batch part in the same transaction (after a crawl marker) starts empty.
    await conn.execute(f"DROP TABLE IF EXISTS {table}; CREATE TEMP TABLE {table} ({cols}) ON COMMIT DROP")
    await conn.copy_records_to_table(table, records=records, columns=[name for name, _ in columns])
    if joined:
        # A temporary table has no statistics until analysed: without them a join against a large table
        # may be planned as a full scan instead of index lookups. A small sample is enough for that (the
        # row count, distinct keys): the default one (30,000 rows, 100-entry statistics per column) cost
        # PostgreSQL more per staged row than the COPY itself (figures: docs/benchmarks.md).
        await conn.execute(
            f"SET LOCAL default_statistics_target = 10; ANALYZE {table}; RESET default_statistics_target"
        )
