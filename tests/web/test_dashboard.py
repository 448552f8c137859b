"""The dashboard (web/) end to end: built once, served by the real API over the session's PostgreSQL,
driven in Debian's Chromium by web/tests/e2e/drive.mjs (playwright-core), checked against the tables.

Known rows go straight into the shared tables (storage_files, usage_rollup, growth_daily, access_log, …) the
stream workers normally maintain, so each assertion is about what the dashboard shows and writes.
"""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import hashlib
import json
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import asyncpg
import pytest

from warpdrive.compose.stack import Stack
from warpdrive.schemas.config import Config, dump_toml
from warpdrive.schemas.db import create_database, drop_database, migrate

from tests.helpers import Procs, rebuild_rollups, wait_until

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
DRIVER = WEB / "tests" / "e2e" / "drive.mjs"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp")

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=200)
GiB = 1 << 30

# (backend, path, size, team, user, last_modified, last_access)
FILES = [
    ("s3", "vision/imagenet/train.tar", 40 * GiB, "vision", "alice", OLD, OLD),
    ("s3", "vision/imagenet/val.tar", 6 * GiB, "vision", "alice", OLD, None),
    ("s3", "vision/runs/run-7/ckpt.pt", 12 * GiB, "vision", "bob", OLD, OLD),
    ("s3", "nlp/corpus/shard-0.jsonl", 9 * GiB, "nlp", "carol", OLD, OLD),
    ("local", "scratch/old-dump.bin", 3 * GiB, "unowned", None, OLD, None),
    ("local", "scratch/tmp.bin", 1 * GiB, "unowned", None, OLD, OLD),
    # Fresh: modified yesterday / read today, so never stale.
    ("s3", "vision/imagenet/new.tar", 50 * GiB, "vision", "alice", NOW - timedelta(days=1), None),
    ("s3", "nlp/corpus/shard-1.jsonl", 20 * GiB, "nlp", "carol", OLD, NOW),
]
STALE = [f for f in FILES if max(f[5], f[6] or f[5]) < NOW - timedelta(days=90)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(WEB)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """`npm ci && npm run build` once per session: the dist the API serves, and node_modules for the driver.

    Sessions run concurrently on one checkout share web/node_modules and web/dist, and `npm ci` deletes
    node_modules first: so the work happens under an exclusive lock, and each step is skipped when its
    inputs are unchanged since it last succeeded (a stamp of their hash in its output folder).
    """
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed (Node 20 + npm are needed to build the dashboard)")
    lock_file = Path(tempfile.gettempdir()) / "warpdrive-web-build.lock"
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deps = _digest([WEB / "package.json", WEB / "package-lock.json"])
        deps_stamp = WEB / "node_modules" / ".warpdrive-stamp"
        if not deps_stamp.is_file() or deps_stamp.read_text() != deps:
            _run(["npm", "ci", "--no-audit", "--no-fund"], WEB)
            deps_stamp.write_text(deps)
        sources = [p for p in (WEB / "src").rglob("*") if p.is_file()]
        build = _digest([*sources, WEB / "index.html", WEB / "vite.config.ts", WEB / "tsconfig.json", deps_stamp])
        build_stamp = WEB / "dist" / ".warpdrive-stamp"
        if not build_stamp.is_file() or build_stamp.read_text() != build:
            _run(["npm", "run", "build"], WEB)
            build_stamp.write_text(build)
    assert (WEB / "dist" / "index.html").is_file()
    # The compressed copies the API sends instead (vite.config.ts) hold exactly the files as built.
    packed = sorted((WEB / "dist" / "assets").glob("*.gz"))
    assert packed and all(gzip.decompress(p.read_bytes()) == p.with_suffix("").read_bytes() for p in packed)
    return WEB / "dist"


async def _seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.executemany(
                """INSERT INTO storage_files (backend_name, path, size_bytes, owner_team, owner_user, last_modified,
                                              last_access, owner_source)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, 'rule')""",
                FILES,
            )
            # The rollup the stream workers keep, recomputed from the index: the API reads usage from it.
            await conn.execute(
                """INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes, last_access)
                   SELECT backend_name, owner_team, COALESCE(owner_user, ''), count(*), sum(size_bytes), max(last_access)
                   FROM storage_files GROUP BY 1, 2, 3"""
            )
            await conn.executemany(
                "INSERT INTO telemetry_coverage (backend_name, first_event, last_event) VALUES ($1, $2, $3)",
                [("s3", NOW - timedelta(days=400), NOW), ("local", NOW - timedelta(days=400), NOW)],
            )
            # Imported history of s3 before its telemetry, missing 10 days: the backend page lists the holes.
            await conn.execute(
                "INSERT INTO history_coverage VALUES ('s3', 'jsonl', $1, $2, 1000)",
                NOW - timedelta(days=600),
                NOW - timedelta(days=420),
            )
            await conn.executemany(
                "INSERT INTO history_days VALUES ('s3', 'jsonl', $1)",
                [((NOW - timedelta(days=d)).date(),) for d in range(600, 419, -1) if not 491 <= d <= 500],
            )
            await conn.executemany(
                """INSERT INTO growth_daily (date, backend_name, owner_team, total_bytes, file_count, added_bytes)
                   VALUES ($1, 's3', $2, $3, $4, $5)""",
                [((NOW - timedelta(days=d)).date(), t, (100 - 3 * d) * GiB, 10, 3 * GiB) for d in range(20, 0, -1)
                 for t in ("vision", "nlp")],
            )
            await conn.executemany("INSERT INTO teams (user_id, team_name) VALUES ($1, $2)",
                                   [("alice", "vision"), ("bob", "vision"), ("carol", "nlp")])
            tree_dirs, tree_teams, tree_activity = _tree_rows()
            await conn.executemany(
                """INSERT INTO tree_dirs (backend_name, dir, parent, depth, file_count, total_bytes)
                   VALUES ($1, $2, $3, $4, $5, $6)""", tree_dirs)
            await conn.executemany(
                """INSERT INTO tree_teams (backend_name, dir, owner_team, file_count, total_bytes)
                   VALUES ($1, $2, $3, $4, $5)""", tree_teams)
            await conn.executemany(
                """INSERT INTO tree_activity (backend_name, dir, kind, period, file_count, total_bytes)
                   VALUES ($1, $2, $3, $4, $5, $6)""", [r for r in tree_activity if r[2] != "s"])
            await conn.executemany(
                """INSERT INTO tree_inactive (backend_name, dir, period, file_count, total_bytes)
                   VALUES ($1, $2, $3, $4, $5)""",
                [(b, d, period, n, size) for b, d, kind, period, n, size in tree_activity if kind == "s"])
            await rebuild_rollups(conn, tree=False)  # the owners' activity weeks, as the workers keep them
            await conn.execute(
                """INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access)
                   VALUES ('s3', 'nlp/corpus/shard-1.jsonl', 'alice', $1, 4, $2, $3)""",
                NOW.date(), 80 * GiB, NOW,
            )
            # The same read in the per-user rollups the workers keep beside it (the user view reads those).
            await conn.execute(
                """INSERT INTO user_files (user_id, backend_name, path, read_count, bytes_read, last_access)
                   VALUES ('alice', 's3', 'nlp/corpus/shard-1.jsonl', 4, $1, $2)""", 80 * GiB, NOW)
            await conn.execute(
                """INSERT INTO user_reads (user_id, backend_name, read_count, bytes_read, files_accessed, last_access)
                   VALUES ('alice', 's3', 4, $1, 1, $2)""", 80 * GiB, NOW)
    finally:
        await conn.close()


def _tree_rows() -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The tree rollups (schemas/migrations/0004_tree.sql) the stream workers would keep for FILES: every file counts in
    each ancestor directory; activity by week (Monday) of last access ('a') and of modification ('m'), and of the
    later of the two ('s': tree_inactive, migration 0060)."""
    never = date.min
    dirs: dict[tuple[str, str], list[int]] = {}
    teams: dict[tuple[str, str, str], list[int]] = {}
    acts: dict[tuple[str, str, str, date], list[int]] = {}
    for backend, path, size, team, _user, modified, accessed in FILES:
        parts = path.split("/")[:-1]
        for depth in range(len(parts) + 1):
            d = "/".join(parts[:depth])
            week = lambda t: (t.date() - timedelta(days=t.weekday())) if t else never  # noqa: E731
            active = max((t for t in (accessed, modified) if t), default=None)  # the stale rule's activity
            for key, table in (((backend, d), dirs), ((backend, d, team), teams),
                               ((backend, d, "a", week(accessed)), acts), ((backend, d, "m", week(modified)), acts),
                               ((backend, d, "s", week(active)), acts)):
                agg = table.setdefault(key, [0, 0])
                agg[0] += 1
                agg[1] += size
    tree_dirs = [(b, d, None if d == "" else d.rpartition("/")[0], d.count("/") + (d != ""), n, s)
                 for (b, d), (n, s) in dirs.items()]
    return tree_dirs, [(*k, n, s) for k, (n, s) in teams.items()], [(*k, n, s) for k, (n, s) in acts.items()]


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _create_seeded(dsn: str, seed: Callable[[str], Awaitable[None]] = _seed) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    await seed(dsn)


@pytest.fixture(scope="session")
def seeded(stack: Stack, session_id: str, cfg: Config) -> Iterator[str]:
    """A database of the dashboard tests' own, migrated and seeded: the session database is shared with every other
    test module of the session, whose rows would change the totals, lists and tables asserted here. (``cfg``: the
    session's Kafka topics exist, for the commands the API publishes on quota changes.)"""
    base = stack.postgres_dsn()
    name = f"wdweb_{session_id}"
    dsn = asyncio.run(create_database(base, name))
    try:
        asyncio.run(_create_seeded(dsn))
        yield dsn
    finally:
        asyncio.run(drop_database(base, name))


def _write_config(config_dict: dict, dsn: str, path: Path, **api: Any) -> Path:
    """The session config (its Kafka topics, backends) pointed at ``dsn``, with ``api`` settings on top."""
    path.write_text(dump_toml({**config_dict, "postgres": {**config_dict["postgres"], "dsn": dsn},
                               "api": {**config_dict["api"], **api}}))
    return path


def _start_api(procs: Procs, name: str, *extra: str) -> str:
    """`warpdrive api serve` on a free loopback port, serving web/dist; returns its base URL once ready."""
    port = _free_port()
    procs.start(name, "api", "serve", "--listen", f"127.0.0.1:{port}", *extra)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            if procs.procs[name].poll() is not None:
                pytest.fail(f"the API exited:\n{procs.log(name)[-3000:]}")
            return False

    wait_until(ready, timeout=30, what="the API's /readyz")
    return url


@pytest.fixture
def api_url(procs: Procs, web_dist: Path, seeded: str, config_dict: dict, tmp_path: Path) -> str:
    conf = _write_config(config_dict, seeded, tmp_path / "web.toml")
    return _start_api(procs, "api", "--config", str(conf), "--insecure-no-auth")


def _drive(scenario: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed: apt-get install -y chromium")
    p = subprocess.run(["node", str(DRIVER), json.dumps(scenario)], cwd=WEB, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"driver failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert "failure" not in out, f"browser scenario failed: {out['failure']}\nseen so far: {json.dumps(out)[:3000]}"
    return out


@pytest.mark.services
@pytest.mark.browser
def test_dashboard_overview_stale_marks_quotas(api_url: str, seeded: str) -> None:
    out = _drive({
        "scenario": "main",
        "base": api_url,
        "shots": str(SHOTS),
        "badQuota": {"team": "vision", "backend": "s3", "soft": "lots", "hard": "2TB"},
        "quota": {"team": "vision", "backend": "s3", "soft": "2TB", "hard": "3TiB"},
        "staleFilter": {"min_size": "5GiB", "backend": "s3", "owner": "vision"},
        "allQuota": {"team": "nlp", "backend": "", "soft": "10GiB", "hard": "20GiB"},
        "user": "alice",
        "backend": "s3",
        "tree": {"backend": "s3", "open": "vision"},
    })
    print(f"dashboard overview: team chart on screen {out['loadMs']} ms after navigation with an empty cache "
          f"(DOMContentLoaded {out['navigation']['domContentLoadedMs']} ms), {out['reloadMs']} ms on reload; "
          f"the page's API call alone: {out['usageFetchMs']} ms; "
          f"table at {out['tableShownMs']} ms; requests [start, end] (ms): {out['navigation']['resourceEndMs']}; screenshots: {', '.join(out['shots'])}")

    # Overview: one bar per team, `unowned` included, largest team first in the table.
    totals: dict[str, int] = {}
    for f in FILES:
        totals[f[3]] = totals.get(f[3], 0) + f[2]
    assert set(totals) <= set(out["chartLabels"]), out["chartLabels"]
    assert out["chartBars"] == len({(f[0], f[3]) for f in FILES})  # one segment per (team, backend) with bytes
    assert {"0 B", "25 GiB", "100 GiB"} <= set(out["chartLabels"])  # round binary ticks up to vision's 108 GiB
    assert out["tableTeams"] == sorted(totals, key=lambda t: -totals[t])
    assert out["totalText"] == "141 GiB"  # sum(FILES) = 141 GiB exactly

    # Stale data: only files idle for > 90 days, sorted by the API both ways when the size header is clicked.
    assert out["staleInitialSort"] == "descending"
    by_size = [f[1] for f in sorted(STALE, key=lambda f: f[2])]
    assert out["staleAsc"] == by_size
    assert out["staleDesc"] == by_size[::-1]
    assert out["staleTotalText"].startswith(f"{len(STALE)} file(s)")

    assert out["staleFiltered"] == [f[1] for f in sorted(STALE, key=lambda f: -f[2])
                                    if f[0] == "s3" and f[3] == "vision" and f[2] >= 5 * GiB]

    # Bulk marks: the two selected rows (the two largest) were marked (badges, and both listed on the review page
    # from deletion_marks); the second was then unmarked there, so exactly the first is left, with its note.
    assert out["selected"] == by_size[::-1][:2]
    assert sorted(out["markedBadges"]) == sorted(out["selected"])
    assert "Nothing was deleted" in out["markNotice"]
    assert sorted(out["marksListed"]) == sorted(out["selected"])
    marks = asyncio.run(_fetch(seeded, "SELECT backend_name, path, note FROM deletion_marks"))
    assert [(m["backend_name"], m["path"], m["note"]) for m in marks] == [("s3", out["selected"][0], "dashboard test")]
    live = asyncio.run(_fetch(seeded, "SELECT count(*) AS n FROM storage_files WHERE deleted_at IS NULL"))
    assert live[0]["n"] == len(FILES)

    # Quotas: the API's validation error is shown; the good quota lands in the table, exact bytes.
    assert "soft" in out["quotaError"]
    quotas = asyncio.run(_fetch(seeded, "SELECT team_name, backend_name, soft_limit, hard_limit FROM quotas"))
    assert [tuple(q) for q in quotas] == [("vision", "s3", 2 * 10**12, 3 * 2**40)]
    assert ["vision", "s3"] == out["quotaRows"][0][:2]
    assert out["allQuotaRow"] == ["nlp", "all"]  # set over all backends, then deleted from its row
    assert "Deleted the quota of nlp on all backends" in out["quotaDeleteNotice"]
    # Typed in two families (2TB, 3TiB): shown in the one that writes both shortest (schemas/units.py: family_of).
    assert out["quotaRows"][0][3:5] == ["2.00 TB", "3.30 TB"]

    # User drill-down: alice owns three s3 files (96 GiB) and read 80 GiB there.
    assert out["userOwned"] == [["s3", "3", "96.0 GiB"]]
    assert out["userReads"] == [["s3", "4", "80.0 GiB"]]

    # Backend detail: s3's total and file count; the growth series reaches 2 x 97 GiB, so its axis ends at 200 GiB.
    s3 = [f for f in FILES if f[0] == "s3"]
    assert out["backendCards"] == [f"{sum(f[2] for f in s3) // GiB} GiB", str(len(s3))]
    assert {"0 B", "200 GiB"} <= set(out["growthLabels"]), out["growthLabels"]
    # The holes in s3's evidence, with their days: the 10 days of missing logs, then the 19 up to telemetry.
    assert out["coverageHoles"] == [f"{(NOW - timedelta(days=a)).date()} – {(NOW - timedelta(days=b)).date()} ({n} days)"
                                    for a, b, n in ((500, 491, 10), (419, 401, 19))], out["coverageHoles"]

    # Directory tree: s3's root lists its top directories by size with their stale share over 90 days (the one stale
    # rule: neither read nor modified, so vision's new.tar, modified yesterday and never read, is not stale); opening
    # one lists its children, breadcrumbs lead back, and its stale link filters the stale list to that directory.
    def share(d: str) -> str:
        under = [f for f in FILES if f[0] == "s3" and f[1].startswith(d + "/")]
        return f"{100 * sum(f[2] for f in under if f in STALE) / sum(f[2] for f in under):.1f}%"

    assert share("vision") == "53.7%" and share("nlp") == "31.0%"  # vision: 58 of 108 GiB; nlp: shard-0's 9 of 29
    assert out["treeRoot"] == [["vision", share("vision")], ["nlp", share("nlp")]]
    assert out["treeChild"] == [["vision/imagenet", share("vision/imagenet")], ["vision/runs", share("vision/runs")]]
    assert out["breadcrumbs"] == "s3: / vision"
    assert "prefix=vision%2F" in out["treeStaleUrl"] and "backend=s3" in out["treeStaleUrl"]
    assert out["treeStalePaths"] == [f[1] for f in sorted(STALE, key=lambda f: -f[2]) if f[1].startswith("vision/")]

    # Every request but the deliberately bad quota succeeded, and the page threw nothing.
    assert [e for e in out["consoleErrors"] if "status of 400" not in e] == []


@pytest.mark.services
@pytest.mark.browser
def test_dashboard_token_and_auth_errors(procs: Procs, web_dist: Path, seeded: str, config_dict: dict,
                                         tmp_path: Path) -> None:
    viewer = "viewer-" + "v" * 24
    conf = _write_config(config_dict, seeded, tmp_path / "auth.toml", insecure_no_auth=False,
                         tokens=[{"token": viewer, "role": "viewer", "name": "ui-test"}])
    url = _start_api(procs, "api-auth", "--config", str(conf))
    out = _drive({"scenario": "auth", "base": url, "shots": str(SHOTS), "viewerToken": viewer,
                  "quota": {"team": "nlp", "backend": "", "soft": "1TB", "hard": "2TB"}})

    assert "401" in out["noTokenError"] and "API token" in out["noTokenError"], out["noTokenError"]
    assert out["storedToken"] == viewer
    assert "403" in out["viewerMutationError"] and "admin" in out["viewerMutationError"], out["viewerMutationError"]
    assert out["errorsAfterReload"] == []
    quotas = asyncio.run(_fetch(seeded, "SELECT team_name FROM quotas WHERE team_name = 'nlp'"))
    assert quotas == []  # the viewer's PUT changed nothing
    assert all("status of 40" in e for e in out["consoleErrors"]), out["consoleErrors"]


# -- quotas (issue 16): units as typed, the confirmation for a team nobody is in, usage bars with the soft mark (red
# past hard), the teams over a limit on top of the Overview refreshed without a reload. The quotas the seeded
# database had are restored at the end.

async def _quotas(dsn: str, restore: list | None = None) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        if restore is not None:
            await conn.execute("DELETE FROM quotas")
            await conn.executemany("INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit)"
                                   " VALUES ($1, $2, $3, $4)", restore)
        return [tuple(r) for r in await conn.fetch(
            "SELECT team_name, backend_name, soft_limit, hard_limit FROM quotas ORDER BY 1, 2")]
    finally:
        await conn.close()


@pytest.mark.services
@pytest.mark.browser
def test_quota_bars_units_confirmation_and_live_overview(api_url: str, seeded: str) -> None:
    before = asyncio.run(_quotas(seeded))
    try:
        out = _drive({
            "scenario": "quotas", "base": api_url, "shots": str(SHOTS),
            "typed": {"team": "vision", "backend": "s3", "soft": "500TB", "hard": "600TB"},
            "ghost": {"team": "ghost-team", "backend": "", "soft": "1GiB", "hard": "2GiB"},
            "over": {"team": "nlp", "backend": "", "soft": "10GiB", "hard": "20GiB"},  # nlp owns 29 GiB
            "later": {"team": "vision", "backend": "s3", "soft": "10GB", "hard": "100GB"},  # vision owns 116 GB on s3
        })
        after = asyncio.run(_quotas(seeded))
    finally:
        asyncio.run(_quotas(seeded, restore=before))
    print(f"quota alerts: a quota change shown on the Overview {out['refreshMs']} ms after the PUT, without a reload")

    assert "EDQUOT" in out["hardHelp"] and "reads, listing and deletes still work" in out["hardHelp"]
    # Units as typed: 500TB answers 500 TB, in the notice, the table and the edit form.
    assert "500 TB / 600 TB (soft / hard)" in out["typedNotice"]
    assert out["typedCells"] == ["vision", "s3", "116 GB", "500 TB", "600 TB"]
    assert out["typedEdit"] == ["500TB", "600TB"]
    # A team nobody is in and that owns nothing: asked first (accepted), then saved.
    assert len(out["dialogs"]) == 1 and "ghost-team" in out["dialogs"][0] and "no members" in out["dialogs"][0]
    assert "Saved the quota of ghost-team on all backends: 1.00 GiB / 2.00 GiB" in out["ghostNotice"]
    assert ("ghost-team", None, 1 << 30, 2 << 30) in after
    # Bars: share of the hard limit, soft limit marked, red past hard.
    assert out["overBar"]["over"] == "hard" and out["overBar"]["pct"] == "145.0%" and out["overBar"]["soft"] == "50%"
    assert out["overBar"]["red"] == "rgb(198, 40, 40)"
    assert out["typedBar"]["over"] == "none" and out["typedBar"]["red"] != "rgb(198, 40, 40)"
    # Overview: the teams over a limit on top (above the chart); a new breach appears without a reload.
    assert out["alertsFirst"]["beforeChart"]
    assert out["alertTeams"] == [["nlp", "all"]]
    assert out["laterStatus"] == 200
    assert out["alertTeamsLater"] == [["nlp", "all"], ["vision", "s3"]]  # both over hard: the fuller first
    assert "116 GB / 10.0 GB / 100 GB" in out["alertText"]
    assert out["consoleErrors"] == [] or all("409" in e for e in out["consoleErrors"]), out["consoleErrors"]
