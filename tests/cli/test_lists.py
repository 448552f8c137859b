"""Lists at any size from the CLI (issue 20): CSV and JSON carry every row unless --limit, short job ids, du's
hierarchy in a table, the read window stated, notes on stderr."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.support import Db, notes, ok, one_line_error
from tests.helpers import rollups_from_files

pytestmark = pytest.mark.services

NOW = datetime.now(UTC)
N = 2500


@pytest.fixture
def many_stale(db: Db) -> Db:
    old = NOW - timedelta(days=300)
    db.executemany(
        """INSERT INTO storage_files (backend_name, path, size_bytes, owner_team, owner_user, last_modified, last_access)
           VALUES ('s3', $1, $2, 'vision', 'alice', $3, NULL)""",
        [(f"bulk/f-{i:05d}.bin", 1000 + i, old) for i in range(N)],
    )
    rollups_from_files(db.dsn)  # the rollups the workers would keep: the API's stale totals read them
    return db


def test_csv_and_json_carry_every_row_unless_limited(ctl, many_stale: Db) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(ctl("stale", "--days", "90", "--format", "csv")))))
    assert len(rows) == N  # complete: no silent stop at a page
    assert sorted(r["path"] for r in rows) == [f"bulk/f-{i:05d}.bin" for i in range(N)]
    assert [int(r["size_bytes"]) for r in rows] == sorted((1000 + i for i in range(N)), reverse=True)  # biggest first
    doc = json.loads(ok(ctl("stale", "--days", "90", "--sort", "path", "--format", "json")))
    assert [i["path"] for i in doc["items"]] == [f"bulk/f-{i:05d}.bin" for i in range(N)] and doc["total"] == N
    assert len(list(csv.DictReader(io.StringIO(ok(ctl("stale", "--limit", "7", "--format", "csv")))))) == 7
    r = ctl("stale", "--days", "90")
    assert len(ok(r).splitlines()) == 2 + 100  # a table shows a page; how many more there are is on stderr
    assert f"100 shown of {N:,} stale files" in notes(r)

    # Lists the API pages (marks): every page fetched in turn.
    many_stale.execute(
        "INSERT INTO deletion_marks (backend_name, path, marked_by, size_bytes) "
        "SELECT backend_name, path, 'x', size_bytes FROM storage_files"
    )
    marks = list(csv.DictReader(io.StringIO(ok(ctl("marks", "list", "--format", "csv")))))
    assert len(marks) == N and len({m["path"] for m in marks}) == N
    assert len(json.loads(ok(ctl("marks", "list", "--format", "json")))["items"]) == N


def test_short_job_ids_and_job_json(ctl, db: Db) -> None:
    db.execute("""INSERT INTO jobs (job_id, kind, args, state) VALUES
                  ('3f2a9c00aa', 'move', '{"backend": "s3", "path": "a", "dest_backend": "gcs", "dry_run": true}', 'done'),
                  ('3f2b0000bb', 'crawl', '{"backend": "s3"}', 'queued')""")
    assert json.loads(ok(ctl("jobs", "show", "3f2a", "--format", "json")))["job_id"] == "3f2a9c00aa"
    out = ok(ctl("jobs", "show", "3f2a"))
    args = json.loads(out.splitlines()[2][out.splitlines()[0].index("ARGS") :])  # JSON, not a Python dict
    assert args == {"backend": "s3", "path": "a", "dest_backend": "gcs", "dry_run": True}
    err = one_line_error(ctl("jobs", "show", "3f2"))
    assert "3f2a9c00aa, 3f2b0000bb" in err and "give more" in err
    assert "job 3f2b0000bb cancelled" in ok(ctl("jobs", "cancel", "3f2b"))


def test_du_keeps_the_hierarchy_in_a_table(ctl, db: Db) -> None:
    dirs = [("", None, 0), ("a", "", 1), ("a/b", "a", 2), ("a/b/c", "a/b", 3), ("z", "", 1)]
    db.executemany(
        "INSERT INTO tree_dirs (backend_name, dir, parent, depth, file_count, total_bytes) "
        "VALUES ('s3', $1, $2, $3, 1, $4)",
        [(d, p, n, 1000 - 100 * n) for d, p, n in dirs],
    )
    lines = ok(ctl("du", "s3:", "--depth", "3")).splitlines()
    path_col = lines[0].index("PATH")
    assert [line[path_col:] for line in lines[2:]] == ["/", "  a/", "    b/", "      c/", "  z/"]


def test_usage_by_user_states_its_read_window(ctl, db: Db) -> None:
    db.execute("INSERT INTO usage_rollup VALUES ('s3', 'vision', 'alice', 1, 10, NULL)")
    db.execute(
        "INSERT INTO access_daily (date, backend_name, user_id, read_count, bytes_read, files, last_access) "
        "VALUES ($1, 's3', 'bob', 4, 40, 1, $2)",
        (NOW - timedelta(days=60)).date(),
        NOW - timedelta(days=60),
    )
    r = ctl("usage", "--group-by", "user")
    assert "READS 30D" in ok(r).splitlines()[0] and "bob" not in ok(r)
    assert "reads over the last 30 days (--period): 0" in notes(r)
    r = ctl("usage", "--group-by", "user", "--period", "90d")
    assert "READS 90D" in ok(r).splitlines()[0] and "bob" in ok(r)
    assert "reads over the last 90 days (--period): 4" in notes(r)
