"""Issue 20's pages in Debian's Chromium on a demo-like estate (tests/web/estate.py): real figures on every page,
navigation by links alone, the stale CSV export equal to the API's rows, select all N, keyboard sorting, the status
page, honest loading and error states, and the 390 px layout. Screenshots of every page land in the test's tmp dir."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from warpdrive.compose.stack import Stack
from warpdrive.schemas.db import create_database, drop_database

from tests.helpers import Procs
from tests.web import estate
from tests.web.test_dashboard import _create_seeded, _drive, _fetch, _start_api, _write_config, web_dist  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.services, pytest.mark.browser]


@pytest.fixture(scope="module")
def estate_db(stack: Stack, session_id: str) -> Iterator[str]:
    base = stack.postgres_dsn()
    name = f"wdpages_{session_id}"
    dsn = asyncio.run(create_database(base, name))
    try:
        asyncio.run(_create_seeded(dsn, estate.seed))
        yield dsn
    finally:
        asyncio.run(drop_database(base, name))


@pytest.fixture
def estate_api(procs: Procs, web_dist: Path, estate_db: str, config_dict: dict, tmp_path: Path) -> str:
    conf = _write_config(config_dict, estate_db, tmp_path / "pages.toml")
    return _start_api(procs, "api-pages", "--config", str(conf), "--insecure-no-auth")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def _heartbeats(dsn: str) -> Iterator[None]:
    """gpu-01 keeps sending heartbeats while the browser looks (as a live agent does); gpu-02 stays silent."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(5):
            asyncio.run(_fetch(dsn, "UPDATE agents SET last_heartbeat = now() WHERE node_host = 'gpu-01' RETURNING 1"))

    t = threading.Thread(target=beat, daemon=True)
    asyncio.run(_fetch(dsn, "UPDATE agents SET last_heartbeat = now() WHERE node_host = 'gpu-01' RETURNING 1"))
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@pytest.mark.timeout(900)  # one long browser scenario over every page: 75-90 s idle, several minutes on a loaded machine
def test_every_page_on_a_demo_estate(estate_api: str, estate_db: str, tmp_path: Path) -> None:
    team, member = "vision", "alice"
    t0 = time.monotonic()
    with _heartbeats(estate_db):
        out = _drive({"scenario": "pages", "base": estate_api, "shots": str(tmp_path), "shotPrefix": "", "team": team,
                      "member": member})
    print(f"scenario: {time.monotonic() - t0:.1f} s; screenshots: {', '.join(out['shots'])}")
    assert len(out["shots"]) >= 18 and all(Path(s).stat().st_size > 5000 for s in out["shots"])

    # Every page rendered its heading and no error.
    for name, seen in out["pages"].items():
        assert seen["errors"] == [], (name, seen)
    # Overview alerts: the stale bytes and share of the estate, growth over 30 days, as of the last crawl.
    stale_files = sum(1 for f in estate.STALE)
    assert f"{stale_files:,} files not used for 90 days" in out["staleAlert"], out["staleAlert"]
    share = 100 * sum(f.size for f in estate.STALE) / sum(f.size for f in estate.FILES)
    assert f"{share:.1f}% of all storage" in out["staleAlert"]
    assert out["growth30"].startswith("30 days: +") and "%" in out["growth30"]
    assert "as of the last crawl" in out["asOf"] and "UTC" in out["asOf"]
    assert f"/teams/{team}" in out["overviewTeamLinks"]

    # By links alone: team → member → backend → directories → stale files of the directory.
    assert out["teamUrl"] == f"/teams/{team}"
    assert sorted(out["teamBackends"]) == sorted({f.backend for f in estate.FILES if f.team == team})
    assert set(estate.TEAMS[team]) <= set(out["teamMembers"])
    assert out["teamQuota"] == ["hard"]  # vision is over its hard limit
    assert out["userUrl"] == f"/users/{member}" and out["userTeams"] == [team]
    assert out["backendUrl"].startswith("/backends/")
    assert f"prefix={team}%2F" in out["treeStaleUrl"]

    # Users ranked by storage owned (the API's order), then searched case-insensitively.
    owned: dict[str, int] = {}
    for f in estate.FILES:
        owned[f.user or "unowned"] = owned.get(f.user or "unowned", 0) + f.size
    ranked = [u for u in out["usersRanked"] if u in owned]
    assert ranked == sorted(ranked, key=lambda u: -owned[u])
    assert out["usersSearched"] == [member]
    assert out["teamsListed"][0] == max(estate.TEAMS, key=estate.team_bytes) or out["teamsListed"][0] == "unowned"

    # Stale of the team: the keyboard sorted by modification time; the export is every row, equal to the API's.
    team_stale = [f for f in estate.STALE if f.team == team or f.user == team]
    assert out["staleTotal"].startswith(f"{len(team_stale):,} file(s)")
    assert out["keyboardSort"][0] == "last_modified" and out["keyboardSort"][2] in ("ascending", "descending")
    by_modified = sorted(team_stale, key=lambda f: f.modified, reverse=out["keyboardSort"][1] == "desc")
    assert out["modifiedColumn"] == [f.path for f in by_modified][: len(out["modifiedColumn"])]
    exported = list(csv.DictReader(io.StringIO(out["exportCsv"])))
    assert len(exported) == len(team_stale) > 100  # more than a page
    api_rows: list[dict] = []
    offset = 0
    while offset < len(team_stale):
        page = _get(f"{estate_api}/api/v1/stale?owner={team}&sort=last_modified&order={out['keyboardSort'][1]}"
                    f"&limit=500&offset={offset}")
        api_rows += page["items"]
        offset += 500
    assert [(r["backend"], r["path"], int(r["size_bytes"])) for r in exported] == [
        (r["backend"], r["path"], r["size_bytes"]) for r in api_rows]

    # Select all N matching → every stale file of the team marked, server-side.
    assert f"all {len(team_stale):,} matching selected" in out["selectedText"]
    assert f"Marked all {len(team_stale):,} matching file(s)" in out["markAllNotice"]
    marks = asyncio.run(_fetch(estate_db, "SELECT count(*) AS n, count(*) FILTER (WHERE note = 'all of them') AS noted "
                                          "FROM deletion_marks"))
    assert marks[0]["n"] == marks[0]["noted"] == len(team_stale)
    assert out["marksTotal"].startswith(f"{len(team_stale):,} file(s)")
    assert len(list(csv.DictReader(io.StringIO(out["marksExport"])))) == len(team_stale)

    # Status: the live agent with cache, hit rate and a down backend; the silent one; jobs with progress and dry run.
    agents = {a[0]: a for a in out["agents"]}
    assert "alive" in agents["gpu-01"][2] and "87.3%" in agents["gpu-01"] and "silent" in agents["gpu-02"][2]
    assert any("gcs" in cell and "down" in cell for cell in agents["gpu-01"])
    jobs = {j[0]: j for j in out["jobs"]}
    assert jobs[estate.DRY_RUN_JOB][1] == "running" and "dry run" in jobs[estate.DRY_RUN_JOB]
    assert "40.0% of bytes" in jobs[estate.DRY_RUN_JOB] and jobs[estate.MOVE_JOB][1] == "done"

    assert out["deadLetters"].startswith("2 record(s) could not be applied") and "warpdrive.access.v1: 2" in out["deadLetters"]

    # 390 px: nothing wider than the screen.
    assert all(w <= 390 for w in out["narrow"].values()), out["narrow"]
    assert [e for e in out["consoleErrors"]] == []


def test_loading_and_error_states(estate_api: str, tmp_path: Path) -> None:
    out = _drive({"scenario": "states", "base": estate_api, "shots": str(tmp_path), "shotPrefix": ""})
    for name, seen in out["loading"].items():
        assert seen["loading"].startswith("Loading"), (name, seen)
        for false_empty in ("0 file(s)", "Nothing is marked", "No agent", "No user"):
            assert false_empty not in seen["body"], (name, seen["body"])
    assert "cannot reach the API" in out["downError"]
    assert out["rowsUnderError"] == 0 and out["totalUnderError"] == 0  # the error replaced the old results
