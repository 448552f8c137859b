"""Listing events and crawl markers → ``storage_files`` and ``crawls``.

The listing topic is keyed by backend, so one backend's files and markers arrive in order: files are
folded per (backend, path) (the latest listing wins) and flushed before each marker is applied, so a
finish marker sees every file its crawl published. A *complete* finish marks the backend's files (under
the crawl's prefix) that this crawl did not see as deleted; a partial or failed one deletes nothing. A
file that reappears is un-deleted (first_seen kept). Owners are resolved on insert and on every change
of the inputs, and usage moves as deltas.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

import asyncpg

from warpdrive.schemas.checks import check_listing
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.stale import atime_read
from warpdrive.schemas.records import CrawlMarker, ListingEvent, parse_optional_ts, parse_ts

from .decoding import Rejected, checked_batch, dead_letter_records
from .offsets import Msg, dead_letter
from .files import FileState
from .reconstruct import reconstruct_growth
from .ownership import load_owners, lock_backends, norm_prefix, sql_under
from .rollups import Deltas
from .staging import stage

log = logging.getLogger(__name__)

# A batch's files are staged once (staging.py), each with the owner it gets when the database knows
# nothing more about it: a new file nobody touched through a mount, the common case. Rows are not locked
# FOR UPDATE: every other writer of them (access batches, reown) is excluded by the backend and ownership
# locks held here.
_STAGE = (
    ("backend_name", "TEXT"),
    ("path", "TEXT"),
    ("size_bytes", "BIGINT"),
    ("etag", "TEXT"),
    ("last_modified", "TIMESTAMPTZ"),
    ("owner_uid", "INT"),
    ("owner_gid", "INT"),
    ("posix_user", "TEXT"),
    ("atime", "TIMESTAMPTZ"),
    ("crawl_id", "TEXT"),
    ("created_by", "TEXT"),
    ("owner_user", "TEXT"),
    ("owner_team", "TEXT"),
    ("owner_source", "TEXT"),
    ("last_access", "TIMESTAMPTZ"),
)
_COLUMNS = ", ".join(name for name, _ in _STAGE)
# A staged row's fields by name. Rows stay plain tuples: one is built per listed file, and a NamedTuple
# costs ~5 times as much to build (measured with timeit, Python 3.11).
_AT = {name: i for i, (name, _) in enumerate(_STAGE)}
_BACKEND, _PATH, _SIZE, _MODIFIED, _USER, _TEAM, _ACCESS = (
    _AT[c] for c in ("backend_name", "path", "size_bytes", "last_modified", "owner_user", "owner_team", "last_access")
)


def _same(f: str, s: str) -> str:
    """SQL: the crawl saw file ``s`` exactly as the index row ``f`` has it."""
    cols = ("size_bytes", "etag", "last_modified", "owner_uid", "owner_gid", "posix_user", "atime")
    return f"({', '.join(f'{f}.{c}' for c in cols)}) IS NOT DISTINCT FROM ({', '.join(f'{s}.{c}' for c in cols)})"


# A live file listed again unchanged only records the crawl that saw it, all in one statement, and leaves
# the stage. Its owner cannot have changed either: creators and rules reach existing rows through the
# access path and reown. No indexed column changes, so the new row version can stay on its page (HOT,
# see the fillfactor).
_SEEN = f"""
WITH seen AS (
    UPDATE storage_files AS f SET crawl_id = s.crawl_id, last_crawled = now()
    FROM listing_stage s
    WHERE f.backend_name = s.backend_name AND f.path = s.path AND f.deleted_at IS NULL AND {_same("f", "s")}
          -- atime evidence (staged as last_access) already folded in: else the row is updated below
          AND (s.last_access IS NULL OR f.last_access >= s.last_access)
    RETURNING f.backend_name, f.path
)
DELETE FROM listing_stage s USING seen WHERE s.backend_name = seen.backend_name AND s.path = seen.path
"""

# Whether the batch is a re-crawl (its files in the index), from one of its files: a batch holds whole
# directories of one crawl, new or known together. A first crawl then skips _SEEN, whose join would find
# nothing; a batch that is mixed after all is still exact (_KNOWN returns its indexed files, unchanged
# ones included, and the upsert takes them).
_RECRAWL = """
SELECT EXISTS (SELECT 1 FROM (SELECT backend_name, path FROM listing_stage LIMIT 1) s
               JOIN storage_files f ON f.backend_name = s.backend_name AND f.path = s.path)
"""

# What the database knows that a staged (new, changed or reappearing) row does not: the state of an
# existing file, or the activity through a mount (creator, last access) of a file the index lacks.
_KNOWN = """
SELECT s.backend_name, s.path, f.id IS NOT NULL AS indexed, f.id IS NOT NULL AND f.deleted_at IS NULL AS live,
       f.size_bytes, f.owner_team, f.owner_user, f.created_by, f.last_access, f.last_modified,
       a.last_access AS activity_last_access, a.created_by AS activity_created_by
FROM listing_stage s
LEFT JOIN storage_files f ON f.backend_name = s.backend_name AND f.path = s.path
LEFT JOIN file_activity a ON a.backend_name = s.backend_name AND a.path = s.path
WHERE f.id IS NOT NULL OR a.path IS NOT NULL
"""
_FIX = """
UPDATE listing_stage AS s SET created_by = u.cb, owner_user = u.ou, owner_team = u.ot, owner_source = u.os,
                             last_access = u.la
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
     AS u(b, p, cb, ou, ot, os, la)
WHERE s.backend_name = u.b AND s.path = u.p
"""

# When no listed file is in the index (a first crawl, or new directories), a plain INSERT: ON CONFLICT's
# speculative insertion costs PostgreSQL ~40 % more per row. Otherwise the upsert returns the new files
# (their usage deltas).
_INSERT = f"INSERT INTO storage_files ({_COLUMNS}) SELECT {_COLUMNS} FROM listing_stage ORDER BY backend_name, path"
_UPSERT = f"""
WITH u AS (
    INSERT INTO storage_files AS f ({_COLUMNS})
    SELECT {_COLUMNS} FROM listing_stage ORDER BY backend_name, path
    ON CONFLICT (backend_name, path) DO UPDATE SET
        size_bytes = EXCLUDED.size_bytes, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
        owner_uid = EXCLUDED.owner_uid, owner_gid = EXCLUDED.owner_gid, posix_user = EXCLUDED.posix_user,
        atime = EXCLUDED.atime, crawl_id = EXCLUDED.crawl_id, last_crawled = now(),
        created_by = EXCLUDED.created_by, owner_user = EXCLUDED.owner_user, owner_team = EXCLUDED.owner_team,
        owner_source = EXCLUDED.owner_source, last_access = GREATEST(f.last_access, EXCLUDED.last_access),
        deleted_at = NULL
    RETURNING f.backend_name, f.path, f.xmax = 0 AS inserted
)
SELECT backend_name, path FROM u WHERE inserted
"""

_DELETE_UNSEEN = f"""
WITH d AS (
    UPDATE storage_files SET deleted_at = $4
    WHERE backend_name = $1 AND deleted_at IS NULL AND crawl_id IS DISTINCT FROM $3 AND {sql_under("$2")}
    RETURNING backend_name, path, owner_team, owner_user, size_bytes, last_access, last_modified
)
SELECT * FROM d
"""


async def upsert_files(
    conn: asyncpg.Connection,
    files: dict[tuple[str, str], ListingEvent],
    uid_names: Mapping[str, str],
    deltas: Deltas,
    atime: Mapping[str, str] = {},
) -> None:
    """Writes one batch of listed files (owners resolved, usage deltas collected). ``atime``: backend → atime
    policy; where it is on, a file's atime counts as a read (its last_access; schemas/stale.py)."""
    backends, names = {b for b, _ in files}, _posix_names(files.values())
    await lock_backends(conn, backends, exclusive=True)
    owners = await load_owners(conn, backends, names, uid_names)
    staged: dict[tuple[str, str], tuple[Any, ...]] = {}
    for (b, p), f in files.items():
        team, user, source = owners.resolve(b, p, None, f.owner_user, f.owner_uid)
        at = parse_optional_ts(f.atime)
        staged[(b, p)] = (
            b,
            p,
            f.size_bytes,
            f.etag,
            parse_optional_ts(f.last_modified),
            f.owner_uid,
            f.owner_gid,
            f.owner_user,
            at,
            f.crawl_id,
            None,
            user,
            team,
            source,
            atime_read(at, atime.get(b, "off")),
        )
    await stage(conn, "listing_stage", _STAGE, staged.values(), joined=True)
    unchanged = 0
    if await conn.fetchval(_RECRAWL):
        unchanged = int((await conn.execute(_SEEN)).split()[-1])  # "DELETE n": rows that left the stage
    known = await conn.fetch(_KNOWN)
    if known:
        creators = {c for r in known if (c := r["created_by"] or r["activity_created_by"])}
        if creators - owners.teams.keys():
            owners = await load_owners(conn, backends, creators | names, uid_names)
        fixes = []
        for r in known:
            b, p = key = r["backend_name"], r["path"]
            f, row = files[key], staged.pop(key)
            creator = r["created_by"] or r["activity_created_by"]
            last_access = max(
                (t for t in (r["last_access"], r["activity_last_access"], row[_ACCESS]) if t is not None), default=None
            )
            team, user, source = owners.resolve(b, p, creator, f.owner_user, f.owner_uid)
            fixes.append((b, p, creator, user, team, source, last_access))
            deltas.change(
                FileState.of(r) if r["live"] else None,
                FileState(b, p, team, user, f.size_bytes, last_access, row[_MODIFIED]),
            )
        await conn.execute(_FIX, *map(list, zip(*fixes)))
    if unchanged or any(r["indexed"] for r in known):
        new = [staged[k] for r in await conn.fetch(_UPSERT) if (k := (r["backend_name"], r["path"])) in staged]
    else:  # every staged file is new, and only the ones the database knew nothing about are left in ``staged``
        await conn.execute(_INSERT)
        new = list(staged.values())
    # As staged: nothing in the database said otherwise (no creator; no last access but atime evidence).
    deltas.added(
        (row[_BACKEND], row[_PATH], row[_TEAM], row[_USER], row[_SIZE], row[_MODIFIED])
        for row in new
        if row[_ACCESS] is None
    )
    for row in new:
        if row[_ACCESS] is not None:
            deltas.change(
                None,
                FileState(row[_BACKEND], row[_PATH], row[_TEAM], row[_USER], row[_SIZE], row[_ACCESS], row[_MODIFIED]),
            )


def _posix_names(files: Iterable[ListingEvent]) -> set[str]:
    """Every name whose team resolving these files' POSIX owners may need."""
    out: set[str] = set()
    for f in files:
        if f.owner_user:
            out.add(f.owner_user)
        if f.owner_uid is not None:
            out.add(str(f.owner_uid))
    return out


async def apply_marker(conn: asyncpg.Connection, m: CrawlMarker, deltas: Deltas) -> None:
    ts = parse_ts(m.timestamp)
    prefix = norm_prefix(m.prefix)
    if m.phase == "start":
        await conn.execute(
            "INSERT INTO crawls (crawl_id, backend_name, prefix, started_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (crawl_id) DO NOTHING",
            m.crawl_id,
            m.backend_name,
            prefix,
            ts,
        )
        return
    complete = m.complete
    status = "complete" if complete else ("partial" if m.errors else "failed")
    await conn.execute(
        """INSERT INTO crawls AS c (crawl_id, backend_name, prefix, started_at, finished_at, files, bytes, errors, status)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
           ON CONFLICT (crawl_id) DO UPDATE SET finished_at = EXCLUDED.finished_at, files = EXCLUDED.files,
               bytes = EXCLUDED.bytes, errors = EXCLUDED.errors, status = EXCLUDED.status""",
        m.crawl_id,
        m.backend_name,
        prefix,
        ts,
        m.files,
        m.bytes,
        m.errors,
        status,
    )
    if complete:
        gone = await conn.fetch(_DELETE_UNSEEN, m.backend_name, prefix, m.crawl_id, ts)
        for r in gone:
            deltas.change(FileState.of(r), None)
        n = len(gone)
        log.info("crawl %s of %s complete: %d files no longer seen marked deleted", m.crawl_id, m.backend_name, n)
        if not prefix and await reconstruct_growth(conn, m.backend_name):
            log.info("first crawl of %s: growth before it reconstructed from modification times", m.backend_name)


async def apply_listing(
    conn: asyncpg.Connection,
    consumer: str,
    msgs: list[Msg],
    uid_names: Mapping[str, str],
    deltas: Deltas,
    roots: Mapping[str, str] = {},
    atime: Mapping[str, str] = {},
) -> int:
    """Applies listing/crawl messages in order (inside the caller's transaction); returns records applied.
    ``roots``: backend → URL, for canonical paths (schemas/paths.py); ``atime``: backend → atime policy."""
    pending: dict[tuple[str, str], ListingEvent] = {}
    bad: list[tuple[Msg, str]] = []
    rejected: list[Rejected] = []
    n = 0
    for m in msgs:
        try:
            recs, refused = checked_batch(m, None, check_listing, roots)
            if recs and not isinstance(recs[0], (ListingEvent, CrawlMarker)):
                raise DecodeError(f"unexpected {recs[0].TYPE} records on the listing topic")
        except DecodeError as e:
            bad.append((m, str(e)))
            continue
        rejected += refused
        n += len(recs)
        if recs and isinstance(recs[0], ListingEvent):
            for r in recs:
                pending[(r.backend_name, r.path)] = r
            continue
        for r in recs:
            if pending:  # a marker sees every file published before it
                await upsert_files(conn, pending, uid_names, deltas, atime)
                pending = {}
            await apply_marker(conn, r, deltas)
    if pending:
        await upsert_files(conn, pending, uid_names, deltas, atime)
    await dead_letter(conn, consumer, bad)
    await dead_letter_records(conn, consumer, rejected)
    return n
