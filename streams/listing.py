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
from typing import Any, Mapping

import asyncpg

from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import CrawlMarker, ListingEvent, decode_batch_dicts, parse_ts

from .offsets import Msg, dead_letter
from .files import FileState
from .ownership import candidate_users, load_owners, lock_backends, norm_prefix, sql_under
from .rollups import Deltas

log = logging.getLogger(__name__)

_LOCK_FILES = """
SELECT f.backend_name, f.path, f.size_bytes, f.owner_team, f.owner_user, f.created_by, f.last_access,
       f.last_modified, f.deleted_at IS NOT NULL AS deleted
FROM storage_files f JOIN unnest($1::text[], $2::text[]) AS u(b, p) ON f.backend_name = u.b AND f.path = u.p
ORDER BY f.backend_name, f.path
FOR UPDATE OF f
"""

_ACTIVITY = """
SELECT a.backend_name, a.path, a.last_access, a.created_by
FROM file_activity a JOIN unnest($1::text[], $2::text[]) AS u(b, p) ON a.backend_name = u.b AND a.path = u.p
"""

_UPSERT = """
INSERT INTO storage_files AS f (backend_name, path, size_bytes, etag, last_modified, owner_uid, owner_gid, posix_user,
                                atime, crawl_id, created_by, owner_user, owner_team, owner_source, last_access)
SELECT b, p, s, e, lm::timestamptz, uid, gid, pu, at::timestamptz, c, cb, ou, ot, os, la
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::int[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[])
     AS u(b, p, s, e, lm, uid, gid, pu, at, c, cb, ou, ot, os, la)
ORDER BY b, p
ON CONFLICT (backend_name, path) DO UPDATE SET
    size_bytes = EXCLUDED.size_bytes, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
    owner_uid = EXCLUDED.owner_uid, owner_gid = EXCLUDED.owner_gid, posix_user = EXCLUDED.posix_user,
    atime = EXCLUDED.atime, crawl_id = EXCLUDED.crawl_id, last_crawled = now(),
    created_by = EXCLUDED.created_by, owner_user = EXCLUDED.owner_user, owner_team = EXCLUDED.owner_team,
    owner_source = EXCLUDED.owner_source, last_access = GREATEST(f.last_access, EXCLUDED.last_access),
    deleted_at = NULL
"""

_DELETE_UNSEEN = f"""
WITH d AS (
    UPDATE storage_files SET deleted_at = $4
    WHERE backend_name = $1 AND deleted_at IS NULL AND crawl_id IS DISTINCT FROM $3 AND {sql_under('$2')}
    RETURNING backend_name, path, owner_team, owner_user, size_bytes, last_access, last_modified
)
SELECT * FROM d
"""


async def upsert_files(conn: asyncpg.Connection, files: dict[tuple[str, str], dict[str, Any]],
                       uid_names: Mapping[str, str], deltas: Deltas) -> None:
    """Writes one batch of listed files (owners resolved, usage deltas collected)."""
    keys = sorted(files)
    bs, ps = [k[0] for k in keys], [k[1] for k in keys]
    await lock_backends(conn, bs, exclusive=True)
    old = {(r["backend_name"], r["path"]): r for r in await conn.fetch(_LOCK_FILES, bs, ps)}
    act = {(r["backend_name"], r["path"]): r for r in await conn.fetch(_ACTIVITY, bs, ps)}
    rows = []
    for k in keys:
        f, o, a = files[k], old.get(k), act.get(k)
        creator = (o and o["created_by"]) or (a and a["created_by"]) or None
        last_access = max((t for t in ((o and o["last_access"]), (a and a["last_access"])) if t), default=None)
        rows.append((f, creator, last_access))
    owners = await load_owners(conn, set(bs), candidate_users(
        [{"created_by": c, "posix_user": f.get("owner_user"), "owner_uid": f.get("owner_uid")} for f, c, _ in rows]),
        uid_names)
    cols: list[list[Any]] = [[] for _ in range(15)]
    for (b, p), (f, creator, last_access) in zip(keys, rows):
        team, user, source = owners.resolve(b, p, creator, f.get("owner_user"), f.get("owner_uid"))
        for col, v in zip(cols, (b, p, f["size_bytes"], f.get("etag"), f.get("last_modified"), f.get("owner_uid"),
                                 f.get("owner_gid"), f.get("owner_user"), f.get("atime"), f["crawl_id"], creator,
                                 user, team, source, last_access)):
            col.append(v)
        o = old.get((b, p))
        modified = parse_ts(f["last_modified"]) if f.get("last_modified") else None
        deltas.change(FileState.of(o) if o and not o["deleted"] else None,
                      FileState(b, p, team, user, f["size_bytes"], last_access, modified))
    await conn.execute(_UPSERT, *cols)


async def apply_marker(conn: asyncpg.Connection, m: dict[str, Any], deltas: Deltas) -> None:
    ts = parse_ts(m["timestamp"])
    prefix = norm_prefix(m.get("prefix", ""))
    if m["phase"] == "start":
        await conn.execute(
            "INSERT INTO crawls (crawl_id, backend_name, prefix, started_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (crawl_id) DO NOTHING", m["crawl_id"], m["backend_name"], prefix, ts)
        return
    complete = bool(m.get("complete"))
    status = "complete" if complete else ("partial" if m.get("errors") else "failed")
    await conn.execute(
        """INSERT INTO crawls AS c (crawl_id, backend_name, prefix, started_at, finished_at, files, bytes, errors, status)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
           ON CONFLICT (crawl_id) DO UPDATE SET finished_at = EXCLUDED.finished_at, files = EXCLUDED.files,
               bytes = EXCLUDED.bytes, errors = EXCLUDED.errors, status = EXCLUDED.status""",
        m["crawl_id"], m["backend_name"], prefix, ts, m.get("files", 0), m.get("bytes", 0), m.get("errors", 0), status)
    if complete:
        gone = await conn.fetch(_DELETE_UNSEEN, m["backend_name"], prefix, m["crawl_id"], ts)
        for r in gone:
            deltas.change(FileState.of(r), None)
        n = len(gone)
        log.info("crawl %s of %s complete: %d files no longer seen marked deleted", m["crawl_id"], m["backend_name"], n)


async def apply_listing(conn: asyncpg.Connection, consumer: str, msgs: list[Msg], uid_names: Mapping[str, str],
                        deltas: Deltas) -> int:
    """Applies listing/crawl messages in order (inside the caller's transaction); returns records applied."""
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    bad: list[tuple[Msg, str]] = []
    n = 0
    for m in msgs:
        try:
            kind, recs = decode_batch_dicts(m.value)
            if kind not in (ListingEvent.TYPE, CrawlMarker.TYPE):
                raise DecodeError(f"unexpected {kind} records on the listing topic")
        except DecodeError as e:
            bad.append((m, str(e)))
            continue
        n += len(recs)
        if kind == ListingEvent.TYPE:
            for r in recs:
                pending[(r["backend_name"], r["path"])] = r
            continue
        for r in recs:
            if pending:  # a marker sees every file published before it
                await upsert_files(conn, pending, uid_names, deltas)
                pending = {}
            await apply_marker(conn, r, deltas)
    if pending:
        await upsert_files(conn, pending, uid_names, deltas)
    await dead_letter(conn, consumer, bad)
    return n
