"""Access events → ``access_log`` (per backend, path, user, day), ``access_daily``, the per-user read rollups
(``user_files``, ``user_reads``), ``telemetry_coverage`` and per-file activity (``file_activity``,
``storage_files.last_access`` / ``created_by``).

Aggregation is commutative (sums, max: schemas/aggregate.py), so a batch of Kafka messages — each a batch envelope
of many events, or of imported history already folded per block of log lines (``AccessBlock``) — is first folded
in memory into one row per (backend, path, user, day), then staged by COPY and written with one set-based upsert
per table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import asyncpg

from warpdrive.schemas.aggregate import Aggregate
from warpdrive.schemas.checks import check_access, check_block, split_checked
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import AccessBlock, AccessEvent, decode_batch, parse_optional_ts, parse_ts

from .decoding import Rejected, dead_letter_records
from .dedupe import fresh_events
from .history import fresh_lines
from .offsets import Msg, dead_letter
from .files import FileState
from .ownership import candidate_users, load_owners, lock_backends, set_owners
from .rollups import Deltas
from .staging import stage

log = logging.getLogger(__name__)


@dataclass
class Decoded:
    """A batch of access messages decoded and checked: ``agg`` folds every accepted event and block (imported ones
    too, assumed new until streams/history.py says otherwise); ``bad``: undecodable messages; ``rejected``:
    records refused alone (schemas/checks.py)."""

    agg: Aggregate = field(default_factory=Aggregate)
    bad: list[tuple[Msg, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    live: list[AccessEvent] = field(default_factory=list)
    imported: list[AccessEvent] = field(default_factory=list)
    blocks: list[tuple[Msg, int, AccessBlock]] = field(default_factory=list)  # history folded by the importer

    def add(self, events: list[AccessEvent]) -> None:
        live = [e for e in events if e.source is None]
        self.live += live
        self.agg.add_all(live)
        if len(live) < len(events):
            imported = [e for e in events if e.source is not None]
            self.imported += imported
            fold_imported(self.agg, imported)

    def add_blocks(self, m: Msg, blocks: list[tuple[int, AccessBlock]]) -> None:
        for i, b in blocks:
            self.blocks.append((m, i, b))
            self.agg.add_block(b)


def fold_imported(agg: Aggregate, imported: list[AccessEvent]) -> None:
    """Folds imported history in, except into telemetry coverage (live telemetry only: history.py keeps
    the imported span per log format)."""
    coverage, agg.coverage = agg.coverage, {}
    agg.add_all(imported)
    agg.coverage = coverage


def decode(msgs: Iterable[Msg], into: Decoded | None = None, roots: Mapping[str, str] = {}) -> Decoded:
    """Folds every decodable message's accepted records into one Aggregate (``into``'s, when given: a batch is
    folded message chunk by chunk as they arrive; ``roots``: backend → URL, for canonical paths)."""
    d = into if into is not None else Decoded()
    for m in msgs:
        try:
            records = decode_batch(m.value)
            if records and not isinstance(records[0], (AccessEvent, AccessBlock)):
                raise DecodeError(f"expected access records, got {records[0].TYPE}")
        except DecodeError as e:
            d.bad.append((m, str(e)))
            continue
        if records and isinstance(records[0], AccessBlock):
            _, refused = split_checked(records, check_block, roots)  # checked in place
            refused_at = {i for i, _, _ in refused}
            d.add_blocks(m, [ib for ib in enumerate(records) if ib[0] not in refused_at])
        else:
            good, refused = split_checked(records, check_access, roots)
            d.add(good)
        d.rejected += [(m, i, r, reason) for i, r, reason in refused]
    return d


def prepare(msgs: list[Msg], into: Decoded | None, roots: Mapping[str, str] = {}) -> tuple[Decoded, int]:
    """The worker's fold of arriving messages into its next batch: the batch so far, and its records."""
    d = decode(msgs, into, roots)
    return d, d.agg.events + len(d.bad) + len(d.rejected)


_STAGE = (
    ("b", "TEXT"),
    ("p", "TEXT"),
    ("u", "TEXT"),
    ("d", "TEXT"),
    ("rc", "INT"),
    ("br", "BIGINT"),
    ("la", "TEXT"),
    ("wc", "INT"),
    ("bw", "BIGINT"),
    ("mc", "FLOAT8"),
    ("ch", "BIGINT"),
    ("ec", "INT"),
)

# access_log and access_daily in one statement: `files` counts access_log rows this batch created.
_ACCESS_LOG = """
WITH v AS (
    SELECT b, p, u, d::date AS d, rc, br, la::timestamptz AS la, wc, bw, mc, ch, ec
    FROM access_stage
    -- one lock order in every worker: concurrent batches touching the same rows never deadlock
    ORDER BY b, p, u, d
), ins AS (
    INSERT INTO access_log AS a (backend_name, path, user_id, date, read_count, bytes_read, last_access,
                                 write_count, bytes_written, meta_count, cache_hits, error_count)
    SELECT * FROM v
    ON CONFLICT (backend_name, path, user_id, date) DO UPDATE SET
        read_count = a.read_count + EXCLUDED.read_count,
        bytes_read = a.bytes_read + EXCLUDED.bytes_read,
        last_access = GREATEST(a.last_access, EXCLUDED.last_access),
        write_count = a.write_count + EXCLUDED.write_count,
        bytes_written = a.bytes_written + EXCLUDED.bytes_written,
        meta_count = a.meta_count + EXCLUDED.meta_count,
        cache_hits = a.cache_hits + EXCLUDED.cache_hits,
        error_count = a.error_count + EXCLUDED.error_count,
        updates = a.updates + 1
    -- a created row still has updates = 0 (exact under concurrent batches: the row lock orders them); not
    -- `xmax = 0`, which PostgreSQL refuses on a partitioned table
    RETURNING backend_name AS b, user_id AS u, date AS d, (updates = 0) AS created
), created AS (
    SELECT b, u, d, count(*) FILTER (WHERE created) AS n FROM ins GROUP BY b, u, d
)
INSERT INTO access_daily AS d (date, backend_name, user_id, shard, read_count, bytes_read, write_count, bytes_written,
                               files, last_access)
SELECT s.d, s.b, s.u, $1::smallint, s.rc, s.br, s.wc, s.bw, created.n, s.la
FROM (SELECT d, b, u, sum(rc) AS rc, sum(br) AS br, sum(wc) AS wc, sum(bw) AS bw, max(la) AS la
      FROM v GROUP BY d, b, u) AS s
JOIN created USING (b, u, d)
ORDER BY 1, 2, 3
ON CONFLICT (date, backend_name, user_id, shard) DO UPDATE SET
    read_count = d.read_count + EXCLUDED.read_count,
    bytes_read = d.bytes_read + EXCLUDED.bytes_read,
    write_count = d.write_count + EXCLUDED.write_count,
    bytes_written = d.bytes_written + EXCLUDED.bytes_written,
    files = d.files + EXCLUDED.files,
    last_access = GREATEST(d.last_access, EXCLUDED.last_access)
"""

# The per-user rollups from the same staged rows, days summed per file. `files_accessed` counts the user_files rows
# this batch created, so it stays the number of distinct files whatever order days and files arrive in.
_USER_ROLLUPS = """
WITH f AS (
    SELECT u, b, p, sum(rc) AS rc, sum(br) AS br, sum(wc) AS wc, sum(bw) AS bw, max(la)::timestamptz AS la
    FROM access_stage GROUP BY u, b, p
), ins AS (
    INSERT INTO user_files AS a (user_id, backend_name, path, read_count, bytes_read, write_count, bytes_written,
                                 last_access)
    SELECT * FROM f ORDER BY u, b, p
    ON CONFLICT (user_id, backend_name, path) DO UPDATE SET
        read_count = a.read_count + EXCLUDED.read_count,
        bytes_read = a.bytes_read + EXCLUDED.bytes_read,
        write_count = a.write_count + EXCLUDED.write_count,
        bytes_written = a.bytes_written + EXCLUDED.bytes_written,
        last_access = GREATEST(a.last_access, EXCLUDED.last_access)
    RETURNING user_id AS u, backend_name AS b, (xmax = 0) AS created
), created AS (
    SELECT u, b, count(*) FILTER (WHERE created) AS n FROM ins GROUP BY u, b
)
INSERT INTO user_reads AS r (user_id, backend_name, shard, read_count, bytes_read, write_count, bytes_written,
                             files_accessed, last_access)
SELECT s.u, s.b, $1::smallint, s.rc, s.br, s.wc, s.bw, created.n, s.la
FROM (SELECT u, b, sum(rc) AS rc, sum(br) AS br, sum(wc) AS wc, sum(bw) AS bw, max(la) AS la FROM f GROUP BY u, b) AS s
JOIN created USING (u, b)
ORDER BY 1, 2
ON CONFLICT (user_id, backend_name, shard) DO UPDATE SET
    read_count = r.read_count + EXCLUDED.read_count,
    bytes_read = r.bytes_read + EXCLUDED.bytes_read,
    write_count = r.write_count + EXCLUDED.write_count,
    bytes_written = r.bytes_written + EXCLUDED.bytes_written,
    files_accessed = r.files_accessed + EXCLUDED.files_accessed,
    last_access = GREATEST(r.last_access, EXCLUDED.last_access)
"""

_COVERAGE = """
INSERT INTO telemetry_coverage AS c (backend_name, shard, first_event, last_event)
SELECT b, $4::smallint, f, l FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(b, f, l) ORDER BY 1
ON CONFLICT (backend_name, shard) DO UPDATE SET
    first_event = LEAST(c.first_event, EXCLUDED.first_event),
    last_event = GREATEST(c.last_event, EXCLUDED.last_event)
"""


async def write_access(conn: asyncpg.Connection, agg: Aggregate, shard: int) -> None:
    """The access_log / access_daily / user rollups / telemetry_coverage part of a batch; the last three into
    the batch's ``shard`` (offsets.shard_of), so concurrent workers never wait on each other's rows."""
    if agg.rows:
        await stage(
            conn,
            "access_stage",
            _STAGE,
            [
                (
                    b,
                    p,
                    u,
                    d,
                    r.read_count,
                    r.bytes_read,
                    r.last_access,
                    r.write_count,
                    r.bytes_written,
                    r.meta_count,
                    r.cache_hits,
                    r.error_count,
                )
                for (b, p, u, d), r in agg.rows.items()
            ],
        )
        await conn.execute(_ACCESS_LOG, shard)
        await conn.execute(_USER_ROLLUPS, shard)
    if agg.coverage:
        names = sorted(agg.coverage)
        await conn.execute(
            _COVERAGE,
            names,
            [parse_ts(agg.coverage[n][0]) for n in names],
            [parse_ts(agg.coverage[n][1]) for n in names],
            shard,
        )


# Creator: the earliest create/write wins whatever order events arrive in (commutative).
_FILES_STAGE = (("b", "TEXT"), ("p", "TEXT"), ("la", "TIMESTAMPTZ"), ("cb", "TEXT"), ("ca", "TIMESTAMPTZ"))
_ACTIVITY = """
INSERT INTO file_activity AS a (backend_name, path, last_access, created_by, created_at)
SELECT b, p, la, cb, ca FROM files_stage ORDER BY b, p
ON CONFLICT (backend_name, path) DO UPDATE SET
    last_access = GREATEST(a.last_access, EXCLUDED.last_access),
    created_by = CASE WHEN a.created_at IS NULL OR EXCLUDED.created_at < a.created_at
                      THEN coalesce(EXCLUDED.created_by, a.created_by) ELSE a.created_by END,
    created_at = LEAST(a.created_at, EXCLUDED.created_at)
RETURNING backend_name, path, created_by
"""

# Per-file last_access on the index (files not crawled yet get it from file_activity when listed): the
# rows that move are locked and read first, so the rollups get their old and new state.
_LOCK_LAST_ACCESS = """
SELECT f.id, f.backend_name, f.path, f.size_bytes, f.owner_team, f.owner_user, f.last_access, f.last_modified,
       f.deleted_at IS NOT NULL AS deleted, v.la
FROM storage_files f JOIN files_stage v ON f.backend_name = v.b AND f.path = v.p
WHERE v.la IS NOT NULL AND (f.last_access IS NULL OR f.last_access < v.la)
ORDER BY f.id
FOR UPDATE OF f
"""
_SET_LAST_ACCESS = """
UPDATE storage_files AS f SET last_access = v.la FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, la)
WHERE f.id = v.id
"""

# A file's creator changed: its owner may too (creator outranks the POSIX owner).
_SET_CREATOR = """
UPDATE storage_files AS f SET created_by = v.cb
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(b, p, cb)
WHERE f.backend_name = v.b AND f.path = v.p AND f.created_by IS DISTINCT FROM v.cb
RETURNING f.id, f.backend_name, f.path, f.size_bytes, f.owner_team, f.owner_user, f.owner_source, f.created_by,
          f.posix_user, f.owner_uid, f.last_access, f.last_modified, f.deleted_at
"""


async def write_files(conn: asyncpg.Connection, agg: Aggregate, uid_names: Mapping[str, str], deltas: Deltas) -> None:
    """The per-file part of a batch: file_activity, storage_files.last_access, creators and owners."""
    if not agg.files:
        return
    await lock_backends(conn, {b for b, _ in agg.files}, exclusive=False)
    await stage(
        conn,
        "files_stage",
        _FILES_STAGE,
        [
            (b, p, parse_optional_ts(f.last_access), f.creator, parse_optional_ts(f.created_at))
            for (b, p), f in agg.files.items()
        ],
        joined=True,
    )
    created = await conn.fetch(_ACTIVITY)
    if any(f.last_access for f in agg.files.values()):
        moved = await conn.fetch(_LOCK_LAST_ACCESS)
        if moved:
            await conn.execute(_SET_LAST_ACCESS, [r["id"] for r in moved], [r["la"] for r in moved])
            for r in moved:
                if not r["deleted"]:
                    deltas.change(FileState.of(r), FileState.of(r, last_access=r["la"]))
    creators = sorted(
        (r["backend_name"], r["path"], r["created_by"])
        for r in created
        if agg.files[(r["backend_name"], r["path"])].creator and r["created_by"]
    )
    if creators:
        changed = [r for r in await conn.fetch(_SET_CREATOR, *map(list, zip(*creators))) if r["deleted_at"] is None]
        if changed:
            owners = await load_owners(conn, {r["backend_name"] for r in changed}, candidate_users(changed), uid_names)
            await set_owners(conn, changed, owners, deltas)


async def apply_access(
    conn: asyncpg.Connection,
    consumer: str,
    msgs: list[Msg],
    uid_names: Mapping[str, str],
    deltas: Deltas,
    decoded: Decoded | None = None,
    roots: Mapping[str, str] = {},
) -> Aggregate:
    """Applies one batch of access messages (inside the caller's exactly-once transaction);
    ``decoded``: ``decode(msgs, roots=roots)``, when the caller already has it."""
    d = decoded if decoded is not None else decode(msgs, roots=roots)
    await dead_letter(conn, consumer, d.bad)
    await dead_letter_records(conn, consumer, d.rejected)
    agg = d.agg
    live = await fresh_events(conn, d.live)  # events resent by their producer: fold without them
    # Lines imported before: fold without them.
    fresh, broken = await fresh_lines(conn, d.imported, [b for _, _, b in d.blocks])
    if broken:
        where = {id(b): (m, i) for m, i, b in d.blocks}
        await dead_letter_records(conn, consumer, [(*where[id(b)], b, reason) for b, reason in broken])
    if live is not None or fresh is not None:
        agg = Aggregate()
        agg.add_all(d.live if live is None else live)
        if fresh is None:
            fold_imported(agg, d.imported)
            for _, _, b in d.blocks:
                agg.add_block(b)
        else:
            fold_imported(agg, fresh)
    await write_access(conn, agg, deltas.shard)
    await write_files(conn, agg, uid_names, deltas)
    return agg
