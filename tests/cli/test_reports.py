"""Read-only commands against the real API (a `warpdrive api serve` subprocess) and real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.support import ADMIN, VIEWER, Db, notes, ok, one_line_error
from tests.helpers import rollups_from_files

pytestmark = pytest.mark.services

GiB, TiB, GB = 1024**3, 1024**4, 1000**3
NOW = datetime.now(UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def rows_of(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture
def usage_state(db: Db) -> Db:
    db.executemany(
        "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes, last_access) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [
            ("s3", "vision", "alice", 3, 3 * TiB, days_ago(1)),
            ("gcs", "vision", "bob", 1, GiB, None),
            ("s3", "unowned", "", 2, 500, None),
        ],
    )
    return db


def test_usage_by_team_in_every_format(ctl, usage_state: Db) -> None:
    doc = json.loads(ok(ctl("--format", "json", "usage", "--group-by", "team")))
    assert doc["total_bytes"] == 3 * TiB + GiB + 500 and doc["file_count"] == 6
    assert [(i["team"], i["backend"], i["total_bytes"], i["file_count"]) for i in doc["items"]] == [
        ("vision", "s3", 3 * TiB, 3),
        ("vision", "gcs", GiB, 1),
        ("unowned", "s3", 500, 2),
    ]

    rows = rows_of(ok(ctl("usage", "--group-by", "team", "--format", "csv")))
    assert [(r["team"], r["backend"], int(r["total_bytes"]), int(r["file_count"])) for r in rows] == [
        ("vision", "s3", 3 * TiB, 3),
        ("vision", "gcs", GiB, 1),
        ("unowned", "s3", 500, 2),
    ]

    r = ctl("usage", "--group-by", "team")
    lines = ok(r).splitlines()
    assert lines[0].split() == ["TEAM", "BACKEND", "FILES", "SIZE", "LAST", "ACCESS"]
    assert lines[2].split()[:5] == ["vision", "s3", "3", "3.00", "TiB"]
    assert lines[3].split()[:5] == ["vision", "gcs", "1", "1.00", "GiB"]
    assert lines[4].split()[:5] == ["vision", "(all)", "4", "3.00", "TiB"]  # the team's total over its backends
    assert lines[5].split()[:5] == ["unowned", "s3", "2", "500", "B"]  # one backend: no total row
    assert notes(r).splitlines()[-1] == "total: 3.00 TiB in 6 files"


def test_usage_by_user_and_backend(ctl, usage_state: Db) -> None:
    # As the stream workers write a read: the per-file log and the per-day reader rollup together.
    usage_state.execute(
        "INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access) "
        "VALUES ('gcs', 'x/y', 'carol', CURRENT_DATE, 4, 4096, NOW())"
    )
    usage_state.execute(
        "INSERT INTO access_daily (date, backend_name, user_id, read_count, bytes_read, files, last_access) "
        "VALUES (CURRENT_DATE, 'gcs', 'carol', 4, 4096, 1, NOW())"
    )
    doc = json.loads(ok(ctl("usage", "--group-by", "user", "--format", "json")))
    by_user = {(i["user"], i["backend"]): i for i in doc["items"]}
    assert by_user[("alice", "s3")]["total_bytes"] == 3 * TiB
    assert by_user[("unowned", "s3")]["total_bytes"] == 500
    assert by_user[("carol", "gcs")]["bytes_read"] == 4096 and by_user[("carol", "gcs")]["total_bytes"] == 0
    out = ok(ctl("usage", "--group-by", "user"))
    assert "READS" in out.splitlines()[0]
    carol = next(line for line in out.splitlines() if line.startswith("carol"))
    assert carol.split()[:5] == ["carol", "gcs", "0", "0", "B"] and "4.00 KiB" in carol

    rows = rows_of(ok(ctl("usage", "--group-by", "backend", "--format", "csv")))
    assert {r["backend"]: int(r["total_bytes"]) for r in rows} == {"s3": 3 * TiB + 500, "gcs": GiB}
    assert "backend" not in rows[0] or list(rows[0])[0] == "backend"

    rows = rows_of(ok(ctl("usage", "--group-by", "team", "--backend", "gcs", "--format", "csv")))
    assert [(r["team"], int(r["total_bytes"])) for r in rows] == [("vision", GiB)]


def test_usage_with_a_viewer_token(ctl, usage_state: Db) -> None:
    assert "vision" in ok(ctl("usage", token=VIEWER))


def test_api_400_message_is_passed_through(ctl, db: Db) -> None:
    line = one_line_error(ctl("usage", "--backend", "nope"))
    assert line.startswith("Error: backend: unknown backend 'nope'") and "s3" in line


@pytest.mark.parametrize("token,needle", [(None, "401"), ("not-a-valid-token-at-all", "401")])
def test_missing_or_bad_token_is_one_line(ctl, db: Db, token: str | None, needle: str) -> None:
    line = one_line_error(ctl("usage", token=token))
    assert needle in line and "--token" in line and "admin token" in line


@pytest.fixture
def stale_state(db: Db) -> Db:
    db.executemany(
        "INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user, "
        "deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            ("s3", "datasets/old1.bin", 20 * GB, days_ago(200), days_ago(120), "vision", "alice", None),
            ("s3", "datasets/old2.bin", 5 * GB, days_ago(200), None, "vision", None, None),
            ("s3", "datasets/recent.bin", 50 * GB, days_ago(200), days_ago(1), "vision", "alice", None),
            ("gcs", "archive/big.tar", 100 * GB, days_ago(365), None, "nlp", None, None),
            ("s3", "datasets/gone.bin", 100 * GB, days_ago(365), None, "vision", None, NOW),
        ],
    )
    rollups_from_files(db.dsn)  # the rollups, as the stream workers keep them
    return db


def test_stale_in_every_format(ctl, stale_state: Db) -> None:
    doc = json.loads(ok(ctl("stale", "--days", "90", "--min-size", "10GB", "--format", "json")))
    assert [(i["backend"], i["path"], i["size_bytes"]) for i in doc["items"]] == [
        ("gcs", "archive/big.tar", 100 * GB),
        ("s3", "datasets/old1.bin", 20 * GB),
    ]
    assert doc["total"] == 2 and doc["total_bytes"] == 120 * GB

    rows = rows_of(ok(ctl("--format", "csv", "stale", "--days", "90", "--min-size", "10GB")))
    assert [(r["path"], int(r["size_bytes"]), r["owner_team"], r["marked"]) for r in rows] == [
        ("archive/big.tar", 100 * GB, "nlp", "false"),
        ("datasets/old1.bin", 20 * GB, "vision", "false"),
    ]

    r = ctl("stale", "--days", "90", "--min-size", "10GB")
    lines = ok(r).splitlines()
    out = notes(r)
    assert lines[0].split()[:3] == ["BACKEND", "PATH", "SIZE"]
    assert lines[2].split()[:4] == ["gcs", "archive/big.tar", "93.1", "GiB"]
    assert lines[3].split()[:4] == ["s3", "datasets/old1.bin", "18.6", "GiB"]
    assert "2 shown of 2 stale files (112 GiB in all)" in out
    # No telemetry coverage recorded: the table says a read before it is unknown.
    assert "note: read evidence does not cover 90 days" in out
    # Without a size filter the rollups answer, and know the share: 125 of 175 GB under the filter.
    assert "3 shown of 3 stale files (116 GiB in all, 71.4% of the 163 GiB under this filter)" in notes(
        ctl("stale", "--days", "90")
    )


@pytest.mark.parametrize("fmt, first", [("table", "BACKEND"), ("csv", "backend,"), ("json", "{")])
def test_stale_into_head_ends_quietly_by_sigpipe(api_url: str, db: Db, fmt: str, first: str) -> None:
    # 1000 rows with long paths (~300 KB) are far more than a pipe holds (64 KiB): the CLI is still
    # writing when head leaves.
    db.executemany(
        "INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, owner_team) "
        "VALUES ($1, $2, $3, $4, $5)",
        [("s3", f"datasets/{'x' * 200}/part-{i:05}.bin", GB + i, days_ago(400), "vision") for i in range(1000)],
    )
    ctl = Path(sys.executable).with_name("warpdrive-ctl")
    cmd = f"{shlex.quote(str(ctl))} --control-plane {api_url} --token {ADMIN} stale --limit 1000 --format {fmt} | head -n 2"
    # Without PYTHONUNBUFFERED: unbuffered, Python's text stdout ignores a partial write (the one the reader
    # leaving cuts short), so the next write is the first to fail, and csv/json have none.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=60, env=env)
    # Like `seq 1 1000000 | head -n 2`: killed by SIGPIPE (141 in the shell), nothing on stderr.
    assert (r.returncode, r.stderr) == (128 + signal.SIGPIPE, ""), r
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(first), r.stdout


def test_stale_filters_and_sorts(ctl, stale_state: Db) -> None:
    def paths(*args: str) -> list[str]:
        return [i["path"] for i in json.loads(ok(ctl("stale", "--format", "json", *args)))["items"]]

    assert paths("--days", "90", "--owner", "vision") == ["datasets/old1.bin", "datasets/old2.bin"]
    assert paths("--days", "90", "--backend", "s3", "--prefix", "datasets/old2") == ["datasets/old2.bin"]
    assert paths("--days", "90", "--sort", "age") == ["archive/big.tar", "datasets/old2.bin", "datasets/old1.bin"]
    assert paths("--days", "90", "--sort", "path") == ["archive/big.tar", "datasets/old1.bin", "datasets/old2.bin"]
    assert paths("--days", "150") == ["archive/big.tar", "datasets/old2.bin"]
    assert paths("--days", "90", "--limit", "1", "--offset", "1") == ["datasets/old1.bin"]
    assert paths("--days", "90", "--min-size", "1.5T") == []


def test_stale_coverage(ctl, stale_state: Db) -> None:
    stale_state.execute("INSERT INTO telemetry_coverage VALUES ('s3', $1, $2)", days_ago(400), NOW)
    out = ok(ctl("stale", "--days", "90", "--backend", "s3"))
    assert "note:" not in out
    doc = json.loads(ok(ctl("stale", "--days", "90", "--covered-only", "--format", "json")))
    assert {i["backend"] for i in doc["items"]} == {"s3"} and all(i["coverage_ok"] for i in doc["items"])


def test_growth_in_every_format(ctl, db: Db) -> None:
    today = NOW.date()
    db.executemany(
        "INSERT INTO growth_daily (date, backend_name, owner_team, total_bytes, file_count, added_bytes, removed_bytes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (today - timedelta(days=10), "s3", "vision", 100 * GiB, 10, 100 * GiB, 0),
            (today - timedelta(days=5), "s3", "vision", 150 * GiB, 14, 60 * GiB, 10 * GiB),
            (today - timedelta(days=5), "s3", "nlp", 1 * GiB, 1, 1 * GiB, 0),
        ],
    )
    doc = json.loads(ok(ctl("growth", "--backend", "s3", "--team", "vision", "--period", "30d", "--format", "json")))
    assert doc["period_days"] == 30 and len(doc["points"]) == 30
    by_date = {p["date"]: p for p in doc["points"]}
    p5 = by_date[str(today - timedelta(days=5))]
    assert (p5["total_bytes"], p5["added_bytes"], p5["removed_bytes"]) == (150 * GiB, 60 * GiB, 10 * GiB)
    assert by_date[str(today)]["total_bytes"] == 150 * GiB and by_date[str(today)]["added_bytes"] == 0

    rows = rows_of(ok(ctl("growth", "--backend", "s3", "--period", "2w", "--format", "csv")))
    assert len(rows) == 14 and int(rows[-1]["total_bytes"]) == 151 * GiB

    doc = json.loads(ok(ctl("growth", "--backend", "s3", "--period", "1y", "--format", "json")))  # its help example
    assert doc["period_days"] == 365 and len(doc["points"]) == 365


def test_growth_bad_period_is_usage_error(ctl, db: Db) -> None:
    one_line_error(ctl("growth", "--period", "3 months"), code=2)


def test_user_in_every_format(ctl, db: Db) -> None:
    db.execute("INSERT INTO teams VALUES ('alice', 'vision')")
    db.execute(
        "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes) "
        "VALUES ('s3', 'vision', 'alice', 2, 70000000000)"
    )
    db.execute(
        "INSERT INTO storage_files (backend_name, path, size_bytes, owner_team, owner_user) VALUES "
        "('s3', 'a/big', 50000000000, 'vision', 'alice'), ('s3', 'a/small', 20000000000, 'vision', 'alice')"
    )
    # A read as the stream workers roll it up per user (user_files, user_reads: what the API's user view reads).
    db.execute(
        "INSERT INTO user_files (user_id, backend_name, path, read_count, bytes_read, last_access) "
        "VALUES ('alice', 'gcs', 'shared/x', 3, 3000, NOW())"
    )
    db.execute(
        "INSERT INTO user_reads (user_id, backend_name, read_count, bytes_read, files_accessed, last_access) "
        "VALUES ('alice', 'gcs', 3, 3000, 1, NOW())"
    )
    doc = json.loads(ok(ctl("user", "alice", "--format", "json")))
    assert doc["teams"] == ["vision"] and doc["owned"][0]["total_bytes"] == 70 * GB
    assert [f["path"] for f in doc["top_files"]] == ["a/big", "a/small"]

    rows = rows_of(ok(ctl("user", "alice", "--format", "csv", "--top", "1")))
    assert [(r["section"], r["backend"], r["path"]) for r in rows] == [
        ("owned", "s3", ""),
        ("reads", "gcs", ""),
        ("top_files", "s3", "a/big"),
        ("top_read", "gcs", "shared/x"),
    ]
    assert int(rows[0]["total_bytes"]) == 70 * GB and int(rows[1]["bytes_read"]) == 3000

    out = ok(ctl("user", "alice"))
    assert out.startswith("user: alice   teams: vision")
    for title in ("owns:", "reads and writes:", "largest files owned:", "most read files:"):
        assert title in out
    assert "65.2 GiB" in out and "a/big" in out

    assert "owns nothing" in one_line_error(ctl("user", "nobody"))


def test_backends_in_every_format(ctl, db: Db) -> None:
    db.execute(
        "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes) "
        "VALUES ('gcs', 'nlp', '', 7, 7340032)"
    )
    db.execute(
        "INSERT INTO crawls (crawl_id, backend_name, started_at, finished_at, files, status) "
        "VALUES ('c1', 'gcs', NOW() - interval '1 hour', NOW(), 7, 'complete')"
    )
    doc = json.loads(ok(ctl("backends", "--format", "json")))
    names = [b["name"] for b in doc["items"]]
    assert names == ["local", "s3", "gcs", "azure", "cli"]
    gcs = doc["items"][2]
    assert gcs["total_bytes"] == 7340032 and gcs["last_crawl"]["status"] == "complete"

    rows = rows_of(ok(ctl("backends", "--format", "csv")))
    assert [r["name"] for r in rows] == names and rows[2]["total_bytes"] == "7340032"

    out = ok(ctl("backends"))
    gcs_line = next(line for line in out.splitlines() if line.startswith("gcs"))
    assert "7.00 MiB" in gcs_line and "complete" in gcs_line and "gs://" in gcs_line


@pytest.fixture
def tree_state(db: Db) -> Db:
    """The tree rollups as the stream workers keep them for s3: data/ (2 files never read, modified 200 days ago,
    one in data/x/) and logs/ (1 bigger file, read this week)."""
    db.executemany(
        "INSERT INTO tree_dirs (backend_name, dir, parent, depth, file_count, total_bytes, inactive_bytes)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",  # inactive_bytes: the stale files (data's)
        [
            ("s3", "", None, 0, 3, 7500, 2500),
            ("s3", "data", "", 1, 2, 2500, 2500),
            ("s3", "data/x", "data", 2, 1, 2000, 2000),
            ("s3", "logs", "", 1, 1, 5000, 0),
        ],
    )
    db.executemany(
        "INSERT INTO tree_teams VALUES ('s3', $1, $2, $3, $4)",
        [
            ("", "nlp", 1, 5000),
            ("", "vision", 2, 2500),
            ("data", "vision", 2, 2500),
            ("data/x", "vision", 1, 2000),
            ("logs", "nlp", 1, 5000),
        ],
    )
    never, recent = datetime(1, 1, 1).date(), (NOW - timedelta(days=NOW.weekday())).date()
    old = (NOW - timedelta(days=200 + (NOW - timedelta(days=200)).weekday())).date()
    data = (("", 2, 2500), ("data", 2, 2500), ("data/x", 1, 2000))
    db.executemany(
        "INSERT INTO tree_activity VALUES ('s3', $1, $2, $3, $4, $5)",
        [(d, "a", never, n, b) for d, n, b in data]
        + [(d, "a", recent, 1, 5000) for d in ("", "logs")]
        + [(d, "m", old, n, b) for d, n, b in data]
        + [(d, "m", recent, 1, 5000) for d in ("", "logs")],
    )
    db.executemany(
        "INSERT INTO tree_inactive VALUES ('s3', $1, $2, $3, $4)",
        [(d, old, n, b) for d, n, b in data] + [(d, recent, 1, 5000) for d in ("", "logs")],
    )
    return db


def test_du_in_every_format(ctl, tree_state: Db) -> None:
    doc = json.loads(ok(ctl("du", "s3:", "--depth", "2", "--format", "json")))
    assert (doc["backend"], doc["prefix"]) == ("s3", "")
    assert [(r["path"], r["level"], r["total_bytes"], r["file_count"]) for r in doc["rows"]] == [
        ("", 0, 7500, 3),
        ("logs", 1, 5000, 1),
        ("data", 1, 2500, 2),
        ("data/x", 2, 2000, 1),
    ]
    assert doc["rows"][2]["stale_bytes"]["90"] == 2500 and doc["rows"][1]["stale_bytes"]["90"] == 0

    rows = rows_of(ok(ctl("du", "s3:data", "--format", "csv")))
    assert [(r["path"], r["level"], r["total_bytes"], r["stale_90_bytes"]) for r in rows] == [
        ("data", "0", "2500", "2500"),
        ("data/x", "1", "2000", "2000"),
    ]
    assert json.loads(rows[0]["bytes_by_team"]) == {"vision": 2500}

    out = ok(ctl("du", "s3", "--depth", "2"))  # a bare backend name is its root
    lines = out.splitlines()
    assert lines[0].split() == ["SIZE", "FILES", "STALE", "90D", "LAST", "ACCESS", "NEWEST", "TOP", "TEAM", "PATH"]
    assert lines[2].split()[:5] == ["7.32", "KiB", "3", "2.44", "KiB"] and "nlp" in lines[2] and lines[2].endswith(" /")
    assert lines[3].split()[:5] == ["4.88", "KiB", "1", "0", "B"] and lines[3].endswith("  logs/")
    assert lines[4].endswith("  data/") and "vision" in lines[4] and lines[5].endswith("    x/")

    def order(*args: str) -> list[str]:
        return [r["path"] for r in json.loads(ok(ctl("du", "s3:", *args, "--format", "json")))["rows"]]

    assert order("--sort", "stale") == ["", "data", "logs"]  # most bytes unread for 90 days first
    assert order("--sort", "name") == ["", "data", "logs"]
    assert order("--sort", "files") == ["", "data", "logs"]
    assert order("--sort", "size") == ["", "logs", "data"]
    doc = json.loads(ok(ctl("du", "s3:/data/", "--depth", "0", "--format", "json")))
    assert [r["path"] for r in doc["rows"]] == ["data"]
    assert "/: 1 of 2 subdirectories shown (--limit)" in notes(ctl("du", "s3:", "--limit", "1"))


def test_du_errors(ctl, tree_state: Db) -> None:
    assert "no directory 'nope'" in one_line_error(ctl("du", "s3:nope"))
    assert "name the backend as BACKEND:PATH" in one_line_error(ctl("du", "data"))
    assert "unknown backend 'tape'" in one_line_error(ctl("du", "tape:x"))
    assert "--depth" in one_line_error(ctl("du", "s3:", "--depth", "-1"), code=2)
