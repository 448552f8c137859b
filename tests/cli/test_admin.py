"""Admin changes against the real API and PostgreSQL: quotas, teams, ownership rules, deletion marks."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.support import VIEWER, Db, notes, ok, one_line_error

pytestmark = pytest.mark.services

TB, TiB = 1000**4, 1024**4


def rows_of(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def test_quota_set_list_delete(ctl, db: Db) -> None:
    db.execute(
        "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes) "
        "VALUES ('s3', 'vision', 'alice', 1, $1)",
        300 * TB,
    )
    out = ok(ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "500TB", "--hard", "600TB"))
    assert out.strip() == "quota for team vision on s3: 500 TB / 600 TB (soft / hard)"  # the units typed
    assert [tuple(r) for r in db.fetch("SELECT team_name, backend_name, soft_limit, hard_limit FROM quotas")] == [
        ("vision", "s3", 500 * TB, 600 * TB)
    ]

    # nlp has no members and owns nothing: most likely a typo, so it needs --force.
    line = one_line_error(ctl("quota", "set", "--team", "nlp", "--soft", "1.5T", "--hard", "2TiB"))
    assert "team 'nlp' has no members and owns no data" in line and "--force" in line
    assert db.fetch("SELECT 1 FROM quotas WHERE team_name = 'nlp'") == []
    doc = json.loads(
        ok(ctl("quota", "set", "--team", "nlp", "--soft", "1.5T", "--hard", "2TiB", "--force", "--format", "json"))
    )
    assert (doc["team"], doc["backend"], doc["soft_limit"], doc["hard_limit"]) == ("nlp", None, int(1.5 * TiB), 2 * TiB)

    # Replacing keeps one row per (team, backend).
    ok(ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "400TB", "--hard", "600TB"))
    doc = json.loads(ok(ctl("quota", "list", "--format", "json", token=VIEWER)))
    assert [(q["team"], q["backend"], q["soft_limit"], q["usage_bytes"]) for q in doc["items"]] == [
        ("nlp", None, int(1.5 * TiB), 0),
        ("vision", "s3", 400 * TB, 300 * TB),
    ]

    rows = rows_of(ok(ctl("quota", "list", "--format", "csv")))
    assert [(r["team"], r["backend"], r["hard_limit"], r["usage_bytes"]) for r in rows] == [
        ("nlp", "all", str(2 * TiB), "0"),
        ("vision", "s3", str(600 * TB), str(300 * TB)),
    ]

    out = ok(ctl("quota", "list"))
    vision = next(line for line in out.splitlines() if line.startswith("vision"))
    assert vision.split()[:8] == ["vision", "s3", "400", "TB", "600", "TB", "300", "TB"] and "50.0%" in vision
    nlp = next(line for line in out.splitlines() if line.startswith("nlp"))
    assert nlp.split()[:6] == ["nlp", "all", "1.50", "TiB", "2.00", "TiB"]

    assert (
        ok(ctl("quota", "delete", "--team", "vision", "--backend", "s3")).strip()
        == "deleted the quota of team vision on s3"
    )
    assert [r["team_name"] for r in db.fetch("SELECT team_name FROM quotas")] == ["nlp"]
    line = one_line_error(ctl("quota", "delete", "--team", "vision", "--backend", "s3"))
    assert line == "Error: no quota for team 'vision' on s3"


def test_quota_errors(ctl, db: Db) -> None:
    line = one_line_error(
        ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "1T", "--hard", "2T", token=VIEWER)
    )
    assert "403" in line and "needs an admin token" in line
    assert "unknown backend 'tape'" in one_line_error(
        ctl("quota", "set", "--team", "vision", "--backend", "tape", "--soft", "1T", "--hard", "2T")
    )
    assert "--hard" in one_line_error(ctl("quota", "set", "--team", "vision", "--soft", "1T", "--hard", "lots"), code=2)
    assert "--team" in one_line_error(ctl("quota", "set", "--soft", "1T", "--hard", "2T"), code=2)
    assert db.fetch("SELECT * FROM quotas") == []


def test_teams(ctl, db: Db) -> None:
    assert ok(ctl("teams", "set", "alice", "vision")).strip() == "alice is in team vision"
    ok(ctl("teams", "set", "bob", "vision"))
    ok(ctl("teams", "set", "carol", "nlp"))
    doc = json.loads(ok(ctl("teams", "list", "--format", "json")))
    assert [(t["user"], t["team"]) for t in doc["items"]] == [("carol", "nlp"), ("alice", "vision"), ("bob", "vision")]
    rows = rows_of(ok(ctl("teams", "list", "--team", "vision", "--format", "csv")))
    assert [(r["user"], r["team"]) for r in rows] == [("alice", "vision"), ("bob", "vision")]
    r = ctl("teams", "list", "--limit", "1")
    assert ok(r).splitlines()[2].split() == ["carol", "nlp"] and "1 of 3 shown" in notes(r)
    assert ok(ctl("teams", "delete", "bob", "vision")).strip() == "bob is no longer in team vision"
    assert sorted(r["user_id"] for r in db.fetch("SELECT user_id FROM teams")) == ["alice", "carol"]
    assert "not in team" in one_line_error(ctl("teams", "delete", "bob", "vision"))
    assert "needs an admin token" in one_line_error(ctl("teams", "set", "eve", "vision", token=VIEWER))
    # Deleting a whole team takes its members and its quotas (whose levels the workers then end).
    ok(ctl("quota", "set", "--team", "vision", "--soft", "1TB", "--hard", "2TB"))
    assert ok(ctl("teams", "delete", "--all", "vision")).strip() == "team vision deleted (its members and quotas)"
    assert [r["user_id"] for r in db.fetch("SELECT user_id FROM teams")] == ["carol"]
    assert db.fetch("SELECT 1 FROM quotas WHERE team_name = 'vision'") == []
    assert "no members and no quotas" in one_line_error(ctl("teams", "delete", "--all", "vision"))
    assert "expected USER TEAM" in ctl("teams", "delete", "vision").output


def test_ownership(ctl, db: Db) -> None:
    out = ok(ctl("ownership", "set", "s3:datasets/vision", "--team", "vision", "--user", "alice"))
    assert out.strip() == "s3:datasets/vision is owned by team vision (user alice)"
    ok(ctl("ownership", "set", "gcs:", "--team", "platform"))
    doc = json.loads(ok(ctl("ownership", "list", "--format", "json")))
    assert [(r["backend"], r["prefix"], r["team"], r["user"]) for r in doc["items"]] == [
        ("gcs", "", "platform", None),
        ("s3", "datasets/vision", "vision", "alice"),
    ]
    rows = rows_of(ok(ctl("ownership", "list", "--backend", "gcs", "--format", "csv")))
    assert [(r["backend"], r["prefix"], r["team"]) for r in rows] == [("gcs", "", "platform")]
    out = ok(ctl("ownership", "list"))
    assert out.splitlines()[2].split()[:3] == ["gcs", "(all)", "platform"]
    # A bare backend name is the whole backend.
    assert ok(ctl("ownership", "delete", "gcs")).strip() == "deleted the ownership rule for gcs:"
    assert [r["backend_name"] for r in db.fetch("SELECT backend_name FROM ownership_rules")] == ["s3"]
    assert "no ownership rule" in one_line_error(ctl("ownership", "delete", "gcs:"))
    # Without BACKEND: and with several backends, the CLI asks for one.
    line = one_line_error(ctl("ownership", "set", "datasets/x", "--team", "vision"))
    assert "name the backend as BACKEND:PATH" in line and "local, s3, gcs, azure, cli" in line


def test_marks(ctl, db: Db) -> None:
    db.execute(
        "INSERT INTO storage_files (backend_name, path, size_bytes, owner_team) VALUES "
        "('s3', 'runs/old/ckpt.pt', 5368709120, 'vision'), ('s3', 'runs/old/log.txt', 1024, 'vision')"
    )
    out = ok(ctl("marks", "add", "s3:runs/old/ckpt.pt", "s3:runs/old/log.txt", "s3:runs/gone", "--note", "stale 1y"))
    assert out.strip() == "marked 3 file(s); nothing is deleted"
    doc = json.loads(ok(ctl("marks", "list", "--format", "json")))
    assert doc["total"] == 3 and doc["total_bytes"] == 5368709120 + 1024
    marks = {m["path"]: m for m in doc["items"]}
    assert marks["runs/old/ckpt.pt"]["note"] == "stale 1y" and marks["runs/old/ckpt.pt"]["marked_by"] == "cli-admin"
    assert marks["runs/gone"]["exists"] is False
    # Marking deletes nothing.
    assert len(db.fetch("SELECT 1 FROM storage_files WHERE deleted_at IS NULL")) == 2

    rows = rows_of(ok(ctl("marks", "list", "--prefix", "runs/old/", "--format", "csv")))
    assert sorted((r["path"], r["size_bytes"]) for r in rows) == [
        ("runs/old/ckpt.pt", "5368709120"),
        ("runs/old/log.txt", "1024"),
    ]
    r = ctl("marks", "list", "--backend", "s3")
    ckpt = next(line for line in ok(r).splitlines() if "ckpt.pt" in line)
    assert "5.00 GiB" in ckpt and "stale 1y" in ckpt
    assert "3 of 3 marked files; 5.00 GiB in all" in notes(r)

    # The stale list shows the mark.
    stale = json.loads(ok(ctl("stale", "--days", "0", "--prefix", "runs/old/ckpt", "--format", "json")))
    assert stale["items"][0]["marked"] is True

    doc = json.loads(ok(ctl("marks", "remove", "s3:runs/gone", "s3:runs/never-marked", "--format", "json")))
    assert doc == {"unmarked": 1}
    assert sorted(r["path"] for r in db.fetch("SELECT path FROM deletion_marks")) == [
        "runs/old/ckpt.pt",
        "runs/old/log.txt",
    ]
    assert "needs an admin token" in one_line_error(ctl("marks", "add", "s3:x", token=VIEWER))
    assert "unknown backend" in one_line_error(ctl("marks", "add", "tape:x"))


def test_deadletters_list_show_replay_drop_and_status(ctl, db: Db) -> None:
    db.execute("DELETE FROM dead_letters")
    db.execute("""INSERT INTO dead_letters (consumer, topic, partition, "offset", error, payload, msg_key)
                  SELECT 'wd', 't.warpdrive.access.v1', 0, o, 'JSONDecodeError: unexpected character', 'not json', 'n1'
                  FROM generate_series(1, 3) AS o""")
    ids = [r["id"] for r in db.fetch("SELECT id FROM dead_letters ORDER BY id")]
    r = ctl("deadletters", "list")
    assert "JSONDecodeError" in ok(r) and "3 dead letter(s): t.warpdrive.access.v1 3" in r.stderr
    out = ok(ctl("deadletters", "show", str(ids[0])))
    assert "payload:\nnot json" in out and "n1" in out
    assert "dead_letters=3" in ok(ctl("status"))
    assert "give dead letter IDs, or --all" in ctl("deadletters", "drop").stderr
    # 't.' is not this session's topic prefix: such a row is kept, never queued where it would block the outbox.
    assert (
        ok(ctl("deadletters", "replay", str(ids[0]))).strip()
        == "replayed 0 dead letter(s); 1 kept: their topic is not one of this deployment's"
    )
    assert ok(ctl("deadletters", "drop", "--all", "--yes")).strip() == "dropped 3 dead letter(s)"
    assert "no dead letters" in ctl("deadletters", "list").stderr
    assert one_line_error(ctl("deadletters", "list", token=VIEWER))
