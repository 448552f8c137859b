"""Read-only reports: usage, stale files, growth, one user, backends, directory usage (du)."""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import click

from warpdrive.schemas.periods import format_period
from warpdrive.schemas.units import format_size

from .context import TABLE_ROWS, Ctl, examples, format_option, page_options, pass_ctl
from .output import Column, human_time, list_items
from .params import LOCATION, PERIOD, SIZE, Location


USAGE_SORT = ("size", "files", "reads", "read_count", "last_access", "name")


@click.command(
    epilog=examples(
        "usage --group-by team",
        "usage --group-by user --backend s3 --format csv",
        "usage --group-by user --period 90d --sort reads",
        "usage --group-by user --team vision",
        "usage --group-by backend --format json",
    )
)
@click.option(
    "--group-by",
    type=click.Choice(["team", "user", "backend"]),
    default="team",
    show_default=True,
    help="Owner dimension to total by.",
)
@click.option("--backend", default="all", show_default=True, help="One backend by name, or all.")
@click.option("--team", help="Only files owned by this team (by user: the team's owners).")
@click.option("--search", help="Only owners whose name contains this text.")
@click.option(
    "--period",
    type=PERIOD,
    default="30d",
    show_default=True,
    help="By user: the READS columns count reads over this many last days (30d, 12w or days).",
)
@click.option(
    "--sort",
    type=click.Choice(USAGE_SORT),
    default="size",
    show_default=True,
    help="Largest first by size, files, reads (bytes read) or read_count; newest last_access; or by name.",
)
@page_options
@format_option
@pass_ctl
def usage(
    ctl: Ctl,
    group_by: str,
    backend: str,
    team: str | None,
    search: str | None,
    period: int,
    sort: str,
    limit: int | None,
    offset: int,
) -> None:
    """Storage by owning team, user or backend: bytes, files, last access (each byte counted once).

    By team, a table adds each team's total over its backends. By user, it adds what each user read over --period.
    """
    params = {
        "group_by": group_by,
        "backend": backend,
        "team": team,
        "search": search,
        "sort": sort,
        "order": "asc" if sort == "name" else "desc",
        "period": format_period(period) if group_by == "user" else None,
    }
    columns = [Column(group_by, group_by.upper())]
    if group_by != "backend":
        columns.append(Column("backend", "BACKEND"))
    columns += [
        Column("file_count", "FILES", "int"),
        Column("total_bytes", "SIZE", "size"),
        Column("last_access", "LAST ACCESS", "time"),
    ]
    if group_by == "user":
        # By user, the API adds what each user read (a reader may own nothing).
        columns += [
            Column("read_count", f"READS {period}D", "int"),
            Column("bytes_read", f"READ {period}D", "size"),
            Column("last_read", "LAST READ", "time"),
        ]

    def notes(doc: dict[str, Any]) -> list[str]:
        items = list_items(doc)
        out = [
            f"total: {format_size(doc.get('total_bytes', 0))} in {doc.get('file_count', 0):,} files"
            + (
                f" ({len(items)} of {doc['total']:,} rows shown; --limit/--offset for more)"
                if doc.get("total", 0) > len(items)
                else ""
            )
        ]
        if group_by == "user":
            out.append(
                f"reads over the last {period} days (--period): {doc.get('read_count', 0):,}, "
                f"{format_size(doc.get('bytes_read', 0))}"
            )
        return out

    if ctl.fmt == "table" and group_by == "team":
        doc = ctl.client.get("/api/v1/usage", **params, limit=limit or TABLE_ROWS, offset=offset)
        return ctl.emit(with_team_totals(list_items(doc)), columns, doc, notes(doc))
    ctl.emit_list("/api/v1/usage", params, columns, limit, offset, notes)


def with_team_totals(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of each team together, largest team first, each team of several backends followed by its total
    (backend "(all)")."""
    teams: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        teams.setdefault(it.get("team", ""), []).append(it)
    out: list[dict[str, Any]] = []
    for team, rows in sorted(teams.items(), key=lambda kv: (-sum(r.get("total_bytes", 0) for r in kv[1]), kv[0])):
        out += rows
        if len(rows) > 1:
            out.append(
                {
                    "team": team,
                    "backend": "(all)",
                    "file_count": sum(r.get("file_count", 0) for r in rows),
                    "total_bytes": sum(r.get("total_bytes", 0) for r in rows),
                    "last_access": max((r["last_access"] for r in rows if r.get("last_access")), default=None),
                }
            )
    return out


STALE_SORT = {
    "size": ("size", "desc"),
    "age": ("activity", "asc"),
    "accessed": ("last_access", "asc"),
    "modified": ("last_modified", "asc"),
    "path": ("path", "asc"),
}


@click.command(
    epilog=examples(
        "stale --days 90 --min-size 10GB",
        "stale --days 180 --backend s3 --owner vision --sort age",
        "stale --days 90 --prefix datasets/ --limit 1000 --format csv > stale.csv",
    )
)
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=90,
    show_default=True,
    help="Neither read nor modified for at least this many days.",
)
@click.option("--min-size", type=SIZE, help="Only files at least this big (10GB, 1.5TiB, 1T, bytes).")
@click.option("--backend", help="Only this backend.")
@click.option("--owner", help="Only files owned by this team or user.")
@click.option("--prefix", help="Only paths under this prefix.")
@click.option(
    "--covered-only",
    is_flag=True,
    help="Only backends whose read evidence (telemetry, imported history, atime) covers all of --days.",
)
@click.option(
    "--sort",
    type=click.Choice(list(STALE_SORT)),
    default="size",
    show_default=True,
    help="size: biggest first; age: least recently read or modified first; accessed: least recently read "
    "first (never read first); modified: oldest modification first; path: alphabetical.",
)
@page_options
@format_option
@pass_ctl
def stale(
    ctl: Ctl,
    days: int,
    min_size: int | None,
    backend: str | None,
    owner: str | None,
    prefix: str | None,
    covered_only: bool,
    sort: str,
    limit: int | None,
    offset: int,
) -> None:
    """Stale files — neither read nor modified for --days — biggest first: candidates to move or delete.

    Reads count from agents' telemetry, imported history (`warpdrive backfill`) and, on backends with
    atime = strict|relatime, the files' access times; COVERED says whether that evidence spans all of --days.
    A table shows --limit rows (default 100); --format csv streams every matching file, --format json holds them all.
    """
    by, order = STALE_SORT[sort]
    params = {
        "days": days,
        "min_size": min_size,
        "backend": backend,
        "owner": owner,
        "prefix": prefix,
        "covered_only": "true" if covered_only else None,
        "sort": by,
        "order": order,
    }
    columns = [
        Column("backend", "BACKEND"),
        Column("path", "PATH"),
        Column("size_bytes", "SIZE", "size"),
        Column("last_modified", "MODIFIED", "time"),
        Column("last_access", "LAST ACCESS", "time"),
        Column("owner_team", "TEAM"),
        Column("owner_user", "USER"),
        Column("marked", "MARKED", "bool"),
        Column("coverage_ok", "COVERED", "bool"),
    ]
    if ctl.fmt == "csv" and limit is None and offset == 0:
        # The API's export: one query streamed through, the same columns as a page's CSV.
        for chunk in ctl.client.stream("/api/v1/stale/export", **params):
            click.echo(chunk, nl=False)
        return

    def notes(doc: dict[str, Any]) -> list[str]:
        items = list_items(doc)
        bound = "" if doc.get("total_exact", True) else "at least "
        # The share of every byte under the filter: given only where the rollups answered (scope_bytes).
        scope = doc.get("scope_bytes")
        share = (
            f", {100 * doc.get('total_bytes', 0) / scope:.1f}% of the {format_size(scope)} under this filter"
            if scope
            else ""
        )
        out = [
            f"{len(items)} shown of {bound}{doc.get('total', len(items)):,} stale files "
            f"({bound}{format_size(doc.get('total_bytes', 0))} in all{share})"
        ]
        shown = {i.get("backend") for i in items}
        coverage = doc.get("coverage") or {}
        uncovered = {b: c.get("since") for b, c in coverage.items() if b in shown and not c.get("covers_period")}
        if uncovered:
            out.append(
                f"note: read evidence does not cover {days} days on "
                + ", ".join(f"{b} (since {human_time(since) if since else 'never'})" for b, since in uncovered.items())
                + ": files there were not modified for that long, but a read before the evidence began is unknown"
            )
        # Where each shown backend's evidence comes from: telemetry, imported history per format, atime.
        out += [f"coverage {b}: {c['note']}" for b, c in sorted(coverage.items()) if b in shown and c.get("note")]
        return out

    ctl.emit_list("/api/v1/stale", params, columns, limit, offset, notes)


@click.command(
    epilog=examples(
        "growth --backend s3 --period 30d",
        "growth --backend gcs --team vision --period 12w --format csv",
        "growth --period 1y",
    )
)
@click.option("--backend", default="all", show_default=True, help="One backend by name, or all.")
@click.option("--team", help="Only this owning team.")
@click.option("--period", type=PERIOD, default="30d", show_default=True, help="How far back: 30d, 12w, 1y or days.")
@format_option
@pass_ctl
def growth(ctl: Ctl, backend: str, team: str | None, period: int) -> None:
    """Daily total, added and removed bytes of a backend (or one team on it) over a period; days before a
    backend's first crawl are reconstructed from modification times (RECONSTRUCTED)."""
    doc = ctl.client.get("/api/v1/growth", backend=backend, team=team, period=format_period(period))
    points = doc.get("points", [])
    columns = [
        Column("date", "DATE"),
        Column("total_bytes", "TOTAL", "size"),
        Column("file_count", "FILES", "int"),
        Column("added_bytes", "ADDED", "size"),
        Column("removed_bytes", "REMOVED", "size"),
        Column("reconstructed", "RECONSTRUCTED", "bool"),
    ]
    notes = []
    if len(points) >= 2:
        first, last = points[0].get("total_bytes", 0), points[-1].get("total_bytes", 0)
        notes.append(f"change over {len(points)} days: {'+' if last >= first else ''}{format_size(last - first)}")
    if doc.get("reconstructed_until") and any(p.get("reconstructed") for p in points):
        notes.append(
            f"note: before {doc['reconstructed_until']} (the first crawl) totals are reconstructed from "
            "modification times: a lower bound — files deleted before that crawl are unknown"
        )
    ctl.emit(points, columns, doc, notes)


USER_COLUMNS = [
    Column("section", "SECTION"),
    Column("backend", "BACKEND"),
    Column("path", "PATH"),
    Column("file_count", "FILES", "int"),
    Column("total_bytes", "OWNED", "size"),
    Column("size_bytes", "SIZE", "size"),
    Column("read_count", "READS", "int"),
    Column("bytes_read", "READ", "size"),
    Column("write_count", "WRITES", "int"),
    Column("bytes_written", "WRITTEN", "size"),
    Column("files_accessed", "FILES USED", "int"),
    Column("last_modified", "MODIFIED", "time"),
    Column("last_access", "LAST ACCESS", "time"),
]


USER_LAYOUTS = {
    "owned": ["backend", "file_count", "total_bytes", "last_access"],
    "reads": ["backend", "read_count", "bytes_read", "write_count", "bytes_written", "files_accessed", "last_access"],
    "top_files": ["backend", "path", "size_bytes", "last_modified", "last_access"],
    "top_read": ["backend", "path", "read_count", "bytes_read", "last_access"],
}
USER_TITLES = {
    "owned": "owns",
    "reads": "reads and writes",
    "top_files": "largest files owned",
    "top_read": "most read files",
}


@click.command(epilog=examples("user alice", "user alice --format json"))
@click.argument("user_id", metavar="USER")
@click.option(
    "--top",
    type=click.IntRange(min=0, max=100),
    default=10,
    show_default=True,
    help="Largest owned and most read files to list.",
)
@format_option
@pass_ctl
def user(ctl: Ctl, user_id: str, top: int) -> None:
    """One user: teams, what they own per backend, what they read, their biggest files."""
    doc = ctl.client.get(f"/api/v1/user/{quote(user_id, safe='')}", top=top)
    sections = {name: doc.get(name, []) for name in USER_LAYOUTS}
    if ctl.fmt == "csv":
        # One CSV with a section column: every reader can load it, unlike several tables in one file.
        rows = [{"section": name, **r} for name, items in sections.items() for r in items]
        return ctl.emit(rows, USER_COLUMNS, doc)
    if ctl.fmt == "json":
        return ctl.emit([], [], doc)
    click.echo(f"user: {doc.get('user', user_id)}   teams: {', '.join(doc.get('teams', [])) or '-'}")
    for name, keys in USER_LAYOUTS.items():
        click.echo(f"\n{USER_TITLES[name]}:")
        ctl.emit(sections[name], [c for c in USER_COLUMNS if c.key in keys])


@click.command(epilog=examples("backends", "backends --format json"))
@format_option
@pass_ctl
def backends(ctl: Ctl) -> None:
    """Configured backends: indexed files and bytes, last crawl, and since when reads are covered (EVIDENCE:
    telemetry since, imported history per log format, atime policy)."""
    doc = ctl.client.get("/api/v1/backends")
    columns = [
        Column("name", "NAME"),
        Column("scheme", "SCHEME"),
        Column("url", "URL"),
        Column("file_count", "FILES", "int"),
        Column("total_bytes", "SIZE", "size"),
        Column(
            "last_crawl",
            "LAST CRAWL",
            "time",
            lambda r: (r.get("last_crawl") or {}).get("finished_at") or (r.get("last_crawl") or {}).get("started_at"),
        ),
        Column("crawl_status", "CRAWL", get=lambda r: (r.get("last_crawl") or {}).get("status")),
        Column("coverage_since", "COVERED SINCE", "time"),
        Column("coverage", "EVIDENCE", get=lambda r: (r.get("coverage") or {}).get("note")),
    ]
    ctl.emit(list_items(doc), columns, doc)


DU_SORT = ("size", "files", "stale", "name")


@click.command(epilog=examples("du s3:datasets", "du s3: --depth 2 --sort stale", "du gcs:archive/2025 --format csv"))
@click.argument("location", type=LOCATION)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Directory levels below PATH to list (0: PATH alone), like du --max-depth.",
)
@click.option(
    "--sort",
    type=click.Choice(DU_SORT),
    default="size",
    show_default=True,
    help="Order of the children of each directory (stale: most bytes neither read nor modified in 90 days first).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Child directories shown per directory."
)
@format_option
@pass_ctl
def du(ctl: Ctl, location: Location, depth: int, sort: str, limit: int) -> None:
    """Bytes, files, unread bytes and last access of a directory (or prefix) and its subdirectories.

    Instant at any size: read from the tree the stream workers keep, never by listing the backend.
    """
    backend, prefix = ctl.resolve(location)
    root = ctl.client.get("/api/v1/tree", backend=backend, prefix=prefix, sort=sort, limit=limit)
    rows: list[dict[str, Any]] = [{**root["self"], "level": 0}]
    notes: list[str] = []
    _walk(ctl, backend, root, 1, depth, sort, limit, rows, notes)
    if ctl.fmt == "csv":
        columns = [Column(k, k) for k in ("path", "level", "total_bytes", "file_count")]
        columns += [Column(f"stale_{d}_bytes", "", get=_stale_bytes(d)) for d in ("30", "90", "180")]
        columns += [
            Column(k, k)
            for k in ("never_read_bytes", "bytes_by_team", "newest_modified", "oldest_modified", "last_access")
        ]
    else:
        columns = [
            Column("total_bytes", "SIZE", "size"),
            Column("file_count", "FILES", "int"),
            Column("stale_90", "STALE 90D", "size", lambda r: (r.get("stale_bytes") or {}).get("90")),
            Column("last_access", "LAST ACCESS", "time"),
            Column("newest_modified", "NEWEST", "time"),
            Column("team", "TOP TEAM", get=lambda r: next(iter(r.get("bytes_by_team") or {}), None)),
            Column("path", "PATH", "tree", _du_name),
        ]
        me = root["self"]
        if me.get("files_here"):
            notes.append(
                f"{me['files_here']:,} files ({format_size(me.get('bytes_here') or 0)}) directly in "
                f"{backend}:{me.get('path') or '/'}"
            )
    ctl.emit(
        rows, columns, {"backend": backend, "prefix": root.get("prefix", prefix), "sort": sort, "rows": rows}, notes
    )


def _du_name(row: dict[str, Any]) -> str:
    """The directory itself by its full path; below it, indented names ending in '/'."""
    if row["level"] == 0:
        return (row.get("path") or "") + "/"
    return "  " * row["level"] + str(row.get("name") or row.get("path")) + "/"


def _stale_bytes(days: str) -> Callable[[dict[str, Any]], Any]:
    """A tree row's bytes not read in ``days`` days (a CSV column)."""
    return lambda r: (r.get("stale_bytes") or {}).get(days)


def _walk(
    ctl: Ctl,
    backend: str,
    node: dict[str, Any],
    level: int,
    depth: int,
    sort: str,
    limit: int,
    rows: list[dict[str, Any]],
    notes: list[str],
) -> None:
    """Depth-first: each child follows its parent, as `du --max-depth` nests them."""
    if level > depth:
        return
    items = node.get("items", [])
    if node.get("total", len(items)) > len(items):
        notes.append(f"{node.get('prefix') or '/'}: {len(items)} of {node['total']:,} subdirectories shown (--limit)")
    for child in items:
        rows.append({**child, "level": level})
        if level < depth:
            sub = ctl.client.get("/api/v1/tree", backend=backend, prefix=child["path"], sort=sort, limit=limit)
            _walk(ctl, backend, sub, level + 1, depth, sort, limit, rows, notes)


COMMANDS = [usage, stale, growth, user, backends, du]
