"""GET /api/v1/tree: a directory (or object-store prefix) and its direct child directories, like ``du``.

Reads the tree rollups the stream workers keep (``tree_dirs``, ``tree_teams``, ``tree_activity``, ``tree_inactive``;
schemas/migrations/0004_tree.sql): the page of children is one indexed range read of ``tree_dirs`` by
(backend, parent), and the per-row details are lookups of just those directories, so the cost does not
grow with the number of files below. "Stale for N days" — neither read nor modified, the rule of
schemas/stale.py, the same as the stale list's — sums the activity week buckets that ended before now − N days
(files with no activity known always count): exact to the week, conservative within it, so the stale list under
a directory never has fewer files than the tree counts.

sort=stale reads the children in order from an index over ``tree_dirs.inactive_bytes`` (the workers keep it as
the sum of the buckets up to ``tree_stale.through``; migration 0055) when that boundary is the one of this
request's clock; in the hours after a week boundary before a worker batch has moved it, the key is summed
from the buckets per child instead (exact either way; slow only for very wide directories).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from warpdrive.schemas.tree import NEVER, STALE_SORT_DAYS, stale_through

from .errors import BadParameter, NotFound
from .params import Backend, Choice, PathText, page_params
from .responses import JSONResponse
from .routing import Call, Endpoint

STALE_DAYS = (30, 90, 180)

# Counting a directory's children stops here (a prefix may have millions): past it totals are lower bounds.
COUNT_CAP = 10_000

LIVE = "(file_count <> 0 OR total_bytes <> 0)"  # a directory whose files are all gone keeps a zero row

# Whitelisted ORDER BY fragments; dir breaks ties so pages are stable. {stale}: the stale key (below).
SORTS = {
    "size": "d.total_bytes DESC, d.dir",
    "files": "d.file_count DESC, d.dir",
    "name": 'd.dir COLLATE "C"',
    "stale": "{stale} DESC, d.dir",
}

# sort=stale while tree_stale.through lags this request's clock: a child's bytes not read in STALE_SORT_DAYS
# ($5 = that boundary), summed over its buckets.
STALE_SUMMED = """(SELECT COALESCE(SUM(a.total_bytes), 0) FROM tree_inactive a
                   WHERE a.backend_name = d.backend_name AND a.dir = d.dir AND a.period <= $5)"""

# Per directory of the page: the week buckets (summed over the workers' shards, migration 0070; a bucket holds files
# when its sum does) folded into the row's figures by PostgreSQL, one row each. $3 = the never bucket.
ACTIVITY_SQL = """
    SELECT dir,
           COALESCE(SUM(s) FILTER (WHERE kind = 'a' AND period = $3), 0)::bigint AS never_read,
           MAX(period) FILTER (WHERE kind = 'm' AND period <> $3) AS newest_m,
           MIN(period) FILTER (WHERE kind = 'm' AND period <> $3) AS oldest_m,
           MAX(period) FILTER (WHERE kind = 'a' AND period <> $3) AS last_a
    FROM (SELECT dir, kind, period, SUM(total_bytes) AS s FROM tree_activity
          WHERE backend_name = $1 AND dir = ANY($2::text[]) GROUP BY dir, kind, period HAVING SUM(file_count) <> 0) b
    GROUP BY dir"""

# Per directory of the page: stale bytes and files (neither read nor modified: schemas/stale.py) from the
# activity buckets. $3..$5 = the cutoffs of STALE_DAYS (30, 90, 180: the b/f column names).
INACTIVE_SQL = """
    SELECT dir,
           COALESCE(SUM(total_bytes) FILTER (WHERE period <= $3), 0)::bigint AS b30,
           COALESCE(SUM(total_bytes) FILTER (WHERE period <= $4), 0)::bigint AS b90,
           COALESCE(SUM(total_bytes) FILTER (WHERE period <= $5), 0)::bigint AS b180,
           COALESCE(SUM(file_count) FILTER (WHERE period <= $3), 0)::bigint AS f30,
           COALESCE(SUM(file_count) FILTER (WHERE period <= $4), 0)::bigint AS f90,
           COALESCE(SUM(file_count) FILTER (WHERE period <= $5), 0)::bigint AS f180
    FROM tree_inactive WHERE backend_name = $1 AND dir = ANY($2::text[])
    GROUP BY dir"""


def normalize(prefix: str) -> str:
    return prefix.strip("/")


def name_of(d: str) -> str:
    return d.rsplit("/", 1)[-1] if d else "/"


def breadcrumbs(d: str) -> list[dict[str, str]]:
    parts = d.split("/") if d else []
    return [{"path": "", "name": "/"}] + [{"path": "/".join(parts[: i + 1]), "name": p} for i, p in enumerate(parts)]


async def tree(call: Call) -> JSONResponse:
    q = call.query
    backend, d = q["backend"], normalize(q["prefix"])
    after = None if q["after"] is None else normalize(q["after"])
    if after is not None and q["sort"] != "name":
        raise BadParameter("after: keyset paging follows sort=name only", param="after")
    now = datetime.now(UTC)
    cutoffs = {n: stale_through(n, now) for n in STALE_DAYS}
    async with call.db.acquire() as conn:
        me = await conn.fetchrow(
            """SELECT dir, depth, file_count, total_bytes, (SELECT through FROM tree_stale) AS through
               FROM tree_dirs WHERE backend_name = $1 AND dir = $2""",
            backend,
            d,
        )
        if me is None:
            raise NotFound(f"no directory {d or '/'!r} in backend {backend!r} (not crawled yet, or no files below it)")
        summed = q["sort"] == "stale" and me["through"] != cutoffs[STALE_SORT_DAYS]
        order = SORTS[q["sort"]].format(stale=STALE_SUMMED if summed else "d.inactive_bytes")
        # $5: the stale boundary when summing, or the keyset for sort=name (the previous page's last path).
        children = await conn.fetch(
            f"""SELECT d.dir, d.depth, d.file_count, d.total_bytes
                FROM tree_dirs d WHERE d.backend_name = $1 AND d.parent = $2 AND {LIVE}
                      {'AND d.dir COLLATE "C" > $5' if after is not None else ""}
                ORDER BY {order} LIMIT $3 OFFSET $4""",
            backend,
            d,
            q["limit"],
            q["offset"],
            *((cutoffs[STALE_SORT_DAYS],) if summed else (after,) if after is not None else ()),
        )
        sums = await conn.fetchrow(
            f"""SELECT count(*) AS n, COALESCE(SUM(file_count), 0)::bigint AS files,
                       COALESCE(SUM(total_bytes), 0)::bigint AS bytes
                FROM (SELECT file_count, total_bytes FROM tree_dirs WHERE backend_name = $1 AND parent = $2 AND {LIVE}
                      LIMIT $3) c""",
            backend,
            d,
            COUNT_CAP + 1,
        )
        dirs = [d, *(c["dir"] for c in children)]
        teams = await conn.fetch(
            """SELECT dir, owner_team, total_bytes FROM tree_teams
               WHERE backend_name = $1 AND dir = ANY($2::text[]) AND total_bytes <> 0""",
            backend,
            dirs,
        )
        activity = {r["dir"]: r for r in await conn.fetch(ACTIVITY_SQL, backend, dirs, NEVER)}
        inactive = {r["dir"]: r for r in await conn.fetch(INACTIVE_SQL, backend, dirs, *cutoffs.values())}
    by_team: dict[str, dict[str, int]] = defaultdict(dict)
    for r in teams:
        by_team[r["dir"]][r["owner_team"]] = r["total_bytes"]

    def row(r: Any) -> dict[str, Any]:
        a, i = activity.get(r["dir"]), inactive.get(r["dir"])
        return {
            "path": r["dir"],
            "name": name_of(r["dir"]),
            "depth": r["depth"],
            "is_dir": True,
            "total_bytes": r["total_bytes"],
            "file_count": r["file_count"],
            "bytes_by_team": dict(sorted(by_team[r["dir"]].items(), key=lambda kv: -kv[1])),
            "stale_bytes": {str(n): i[f"b{n}"] if i else 0 for n in STALE_DAYS},
            "stale_files": {str(n): i[f"f{n}"] if i else 0 for n in STALE_DAYS},
            "never_read_bytes": a["never_read"] if a else 0,
            "newest_modified": a["newest_m"] if a else None,
            "oldest_modified": a["oldest_m"] if a else None,
            "last_access": a["last_a"] if a else None,
        }

    me_row = row(me)
    exact = sums["n"] <= COUNT_CAP
    # Files directly in this directory (or, at a backend's max_tree_depth, everything below it); unknown
    # (null) past the cap, where summing every child would cost more than the page.
    me_row["files_here"] = me["file_count"] - sums["files"] if exact else None
    me_row["bytes_here"] = me["total_bytes"] - sums["bytes"] if exact else None
    return JSONResponse(
        {
            "backend": backend,
            "prefix": d,
            "sort": q["sort"],
            "stale_days": list(STALE_DAYS),
            "breadcrumbs": breadcrumbs(d),
            "self": me_row,
            "items": [row(c) for c in children],
            "total": min(sums["n"], COUNT_CAP),
            "total_exact": exact,
            "limit": q["limit"],
            "offset": q["offset"],
            # With sort=name, where the next page starts (the ``after`` of the next request); null on the last page.
            "next_after": children[-1]["dir"] if q["sort"] == "name" and len(children) == q["limit"] else None,
        }
    )


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/tree",
        tree,
        "A directory and its child directories: sizes, teams, staleness",
        "tree",
        response="Tree",
        extra_statuses=(404,),
        query=(
            Backend("backend", "The backend.", required=True),
            PathText("prefix", "Directory or prefix ('' or '/' = the backend's root).", default=""),
            Choice(
                "sort",
                "Children by size, file count, stale bytes (neither read nor modified in 90 days), or name.",
                default="size",
                choices=tuple(SORTS),
            ),
            *page_params(),
            PathText(
                "after",
                "With sort=name: the children after this path (the previous page's next_after); "
                "unlike offset, as fast deep in a large directory as on its first page.",
            ),
        ),
    ),
)
