"""Jobs, following them, and fleet status against the real API, PostgreSQL and Kafka (job submission publishes).

No worker runs here: where a test follows a job, it plays the worker by writing the job row, as the
stream workers do when they fold JobEvents into it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.cli.support import ADMIN, VIEWER, Db, ok, one_line_error
from tests.helpers import read_terminal

pytestmark = pytest.mark.services


def rows_of(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def job_rows(db: Db) -> list[dict]:
    return [
        {"kind": r["kind"], "args": orjson.loads(r["args"]), "state": r["state"]}
        for r in db.fetch("SELECT kind, args, state FROM jobs ORDER BY created_at, job_id")
    ]


def test_crawl_submits_one_job_per_backend(ctl, db: Db) -> None:
    doc = json.loads(ok(ctl("crawl", "--backend", "s3", "--prefix", "datasets/", "--format", "json")))
    assert (
        doc["kind"] == "crawl" and doc["state"] == "queued" and doc["args"] == {"backend": "s3", "prefix": "datasets/"}
    )
    out = ok(ctl("crawl"))
    assert len(out.splitlines()) == 5 and all(
        "queued (follow it with: warpdrive-ctl jobs show" in l for l in out.splitlines()
    )
    assert sorted(j["args"]["backend"] for j in job_rows(db)) == ["azure", "cli", "gcs", "local", "s3", "s3"]
    assert "needs an admin token" in one_line_error(ctl("crawl", "--backend", "s3", token=VIEWER))
    assert "unknown backend" in one_line_error(ctl("crawl", "--backend", "tape"))


def test_move_and_warm_submit_jobs(ctl, db: Db) -> None:
    job = json.loads(ok(ctl("move", "s3:runs/2024/", "gcs:archive/runs/2024/", "--format", "json")))
    assert job["kind"] == "move" and job["args"] == {
        "backend": "s3",
        "path": "runs/2024/",
        "dest_backend": "gcs",
        "dest_path": "archive/runs/2024/",
        "dry_run": False,
    }
    job = json.loads(ok(ctl("move", "s3:runs/x.bin", "gcs:", "--format", "json")))
    assert job["args"] == {"backend": "s3", "path": "runs/x.bin", "dest_backend": "gcs", "dry_run": False}  # same path
    job = json.loads(ok(ctl("warm", "s3:datasets/imagenet/", "--node", "gpu-07", "--format", "json")))
    assert job["kind"] == "warm" and job["args"] == {"backend": "s3", "path": "datasets/imagenet/", "node": "gpu-07"}
    assert [j["kind"] for j in job_rows(db)] == ["move", "move", "warm"]
    # Waiting needs a live agent to do the work: without one it would never end.
    assert one_line_error(ctl("warm", "s3:x/", "--wait")).endswith(
        "no live agent to warm it (see: warpdrive-ctl status)"
    )
    db.execute("INSERT INTO agents VALUES ('gpu-01', NOW() - interval '1 hour', '{}'::jsonb)")  # long gone
    assert "no live agent on node gpu-01 to warm it" in one_line_error(
        ctl("warm", "s3:x/", "--node", "gpu-01", "--wait")
    )
    assert [j["kind"] for j in job_rows(db)] == ["move", "move", "warm"]  # nothing submitted
    assert "dest_backend: unknown backend" in one_line_error(ctl("move", "s3:a", "tape:b"))


def _play_worker(db: Db, final: str, error: str | None = None) -> threading.Thread:
    """Moves the only queued job through running (with progress) to `final`, as JobEvents would."""

    def run() -> None:
        deadline = time.monotonic() + 20
        while not db.fetch("SELECT 1 FROM jobs") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        progress = {"files_done": 2, "files_total": 4, "bytes_done": 2048, "bytes_total": 4096}
        db.execute(
            "UPDATE jobs SET state = 'running', progress = $1::jsonb, updated_at = NOW()",
            orjson.dumps(progress).decode(),
        )
        time.sleep(0.8)
        done = {**progress, "files_done": 4, "bytes_done": 4096}
        db.execute(
            "UPDATE jobs SET state = $1, progress = $2::jsonb, error = $3, updated_at = NOW()",
            final,
            orjson.dumps(done).decode(),
            error,
        )

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_wait_follows_a_job_to_done_with_plain_lines_when_piped(ctl, db: Db) -> None:
    worker = _play_worker(db, "done")
    r = ctl("move", "s3:runs/a/", "gcs:runs/a/", "--wait")
    worker.join()
    out = ok(r)
    assert "\r" not in out and "\x1b" not in out and "[#" not in out  # not a terminal: no bar, no control characters
    lines = out.splitlines()
    assert lines[0].endswith("queued")
    assert any(l.endswith("running 50%: 2.00 KiB/4.00 KiB, 2/4 files") for l in lines)
    assert lines[-1].endswith("done 100%: 4.00 KiB/4.00 KiB, 4/4 files")
    assert len(lines) == len(set(lines))  # one line per change, not per poll


def test_wait_with_json_keeps_stdout_parseable(ctl, db: Db) -> None:
    worker = _play_worker(db, "done")
    r = ctl("crawl", "--backend", "s3", "--wait", "--format", "json")
    worker.join()
    job = json.loads(ok(r))
    assert job["state"] == "done" and job["progress"]["files_done"] == 4
    assert "running 50%" in r.stderr  # progress went to stderr


def test_wait_draws_a_progress_bar_on_a_terminal(api_url: str, db: Db) -> None:
    master, slave = pty.openpty()
    worker = _play_worker(db, "done")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("warpdrive-ctl")),
            "--control-plane",
            api_url,
            "--token",
            ADMIN,
            "crawl",
            "--backend",
            "s3",
            "--wait",
        ],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    out = read_terminal(master)
    assert proc.wait(30) == 0, proc.stderr.read()
    worker.join()
    text = out.decode()
    assert "\r\x1b[2K[###############...............] job " in text and "running 50%" in text
    assert "[##############################] job " in text and text.rstrip().endswith(
        "done 100%: 4.00 KiB/4.00 KiB, 4/4 files"
    )


def test_wait_on_a_failed_job_exits_1(ctl, db: Db) -> None:
    worker = _play_worker(db, "failed", "checksum mismatch on runs/a/x")
    r = ctl("move", "s3:runs/a/", "gcs:", "--wait")
    worker.join()
    line = one_line_error(r)
    assert line.endswith("failed: checksum mismatch on runs/a/x")
    assert "failed 100%" in r.stdout


def test_warm_wait_follows_every_live_node_and_a_lost_one_fails_it(ctl, db: Db) -> None:
    """Plays two agents: gpu-a finishes (the job row ends done), gpu-b stops heartbeating mid-warm."""
    db.execute("INSERT INTO agents VALUES ('gpu-a', NOW(), '{}'::jsonb), ('gpu-b', NOW(), '{}'::jsonb)")

    def agents() -> None:
        deadline = time.monotonic() + 20
        while not (rows := db.fetch("SELECT job_id FROM jobs")) and time.monotonic() < deadline:
            time.sleep(0.05)
        job_id = rows[0]["job_id"]
        done = {"state": "done", "path": "s3:ds", "files": 2, "files_total": 2, "bytes": 10, "bytes_total": 10}
        db.execute("UPDATE jobs SET state = 'done', progress = $1::jsonb", orjson.dumps(done).decode())
        db.execute(
            "UPDATE agents SET status = $1::jsonb WHERE node_host = 'gpu-a'",
            orjson.dumps({"jobs": {job_id: done}}).decode(),
        )
        time.sleep(1)
        running = {**done, "state": "running", "files": 1, "bytes": 5}
        db.execute(
            "UPDATE agents SET status = $1::jsonb, last_heartbeat = NOW() - interval '2 hours' "
            "WHERE node_host = 'gpu-b'",
            orjson.dumps({"jobs": {job_id: running}}).decode(),
        )

    player = threading.Thread(target=agents, daemon=True)
    player.start()
    r = ctl("warm", "s3:ds", "--wait")
    player.join()
    out = r.stdout.splitlines()
    assert "node gpu-a done: 10 B/10 B, 2/2 files" in out and "node gpu-b lost: 5 B/10 B, 1/2 files" in out, r.output
    line = one_line_error(r)
    assert line.startswith("Error: job ") and line.endswith(" lost on node gpu-b"), line


def test_jobs_list_show_cancel(ctl, db: Db) -> None:
    first = json.loads(ok(ctl("crawl", "--backend", "s3", "--format", "json")))
    second = json.loads(ok(ctl("warm", "gcs:x/", "--format", "json")))
    doc = json.loads(ok(ctl("jobs", "list", "--format", "json", token=VIEWER)))
    assert [j["job_id"] for j in doc["items"]] == [second["job_id"], first["job_id"]]
    rows = rows_of(ok(ctl("jobs", "list", "--kind", "crawl", "--format", "csv")))
    assert [(r["job_id"], r["kind"], r["state"], json.loads(r["args"])) for r in rows] == [
        (first["job_id"], "crawl", "queued", {"backend": "s3", "prefix": ""})
    ]
    out = ok(ctl("jobs", "list"))
    # short ids in a table (any unique start is accepted back), the dry-run flag beside the state
    assert out.splitlines()[0].split()[:5] == ["JOB", "KIND", "DRY", "RUN", "STATE"]
    assert out.splitlines()[2].split()[0] == second["job_id"][:12]

    shown = json.loads(ok(ctl("jobs", "show", first["job_id"], "--format", "json")))
    assert shown["job_id"] == first["job_id"] and shown["created_by"] == "cli-admin"
    assert first["job_id"] in ok(ctl("jobs", "show", first["job_id"]))

    out = ok(ctl("jobs", "cancel", first["job_id"]))
    assert out.strip() == f"job {first['job_id']} cancelled"
    assert db.fetch("SELECT state FROM jobs WHERE job_id = $1", first["job_id"])[0]["state"] == "cancelled"
    assert "already cancelled" in one_line_error(ctl("jobs", "cancel", first["job_id"]))
    assert "no job 'nope'" in one_line_error(ctl("jobs", "show", "nope"))
    line = one_line_error(ctl("jobs", "show", first["job_id"], "--wait"))  # followed to its (cancelled) end
    assert line.startswith(f"Error: job {first['job_id']} cancelled")
    assert json.loads(ok(ctl("jobs", "list", "--state", "cancelled", "--format", "json")))["total"] == 1


def test_status_in_every_format(ctl, db: Db) -> None:
    header = ok(ctl("status", "--format", "csv")).splitlines()
    assert len(header) == 1 and header[0].startswith("node_host,alive,") and header[0].endswith(",warm")  # no agent yet
    status = {
        "node_host": "gpu-07",
        "timestamp": "2026-11-25T14:00:00Z",
        "mounts": [{"mountpoint": "/mnt/warp", "backends": ["gcs", "s3"], "open_handles": 3, "errors": 2}],
        "backends": {"s3": {"reachable": True, "latency_ms": 3.1}, "gcs": {"reachable": False, "error": "timeout"}},
        "cache": {"bytes": 3 * 1024**3, "max_bytes": 10 * 1024**3, "hits": 90, "misses": 10, "hit_rate": 0.9},
        "telemetry": {"queue_depth": 12, "dropped": 5, "spool_bytes": 2048},
        "jobs": {
            "j1": {
                "state": "running",
                "path": "s3:ds/",
                "files": 1,
                "files_total": 4,
                "bytes": 1024,
                "bytes_total": 4096,
            },
            "j0": {"state": "done", "path": "s3:old/"},
            "j2": {"state": "failed", "path": "s3:gone/"},
        },
    }
    db.execute(
        "INSERT INTO agents VALUES ('gpu-07', NOW() - interval '12 seconds', $1::jsonb)", orjson.dumps(status).decode()
    )
    db.execute("INSERT INTO agents VALUES ('gpu-99', NOW() - interval '2 hours', '{}'::jsonb)")

    out = ok(ctl("status", token=VIEWER))
    lines = out.splitlines()
    assert (
        lines[0].startswith("control plane http://127.0.0.1:")
        and "status=ready" in lines[0]
        and "postgres=True" in lines[0]
    )
    assert lines[1] == "agents: 2 (1 alive)"
    gpu = next(l for l in lines if l.startswith("gpu-07"))
    for cell in (
        "yes",
        "/mnt/warp",
        "3.00 GiB",
        "90.0%",
        "12",
        "2.00 KiB",
        "1/2 (down: gcs)",
        "s3:ds/ 25%, 1 done, 1 failed",
    ):
        assert cell in gpu, (cell, gpu)
    assert "s ago" in gpu
    assert "2h ago" in next(l for l in lines if l.startswith("gpu-99"))

    doc = json.loads(ok(ctl("status", "--format", "json")))
    assert doc["health"]["healthz"] == {"status": "ok"} and doc["health"]["readyz"]["status"] == "ready"
    assert [a["node_host"] for a in doc["agents"]] == ["gpu-07", "gpu-99"] and doc["agents"][0]["status"] == status

    rows = rows_of(ok(ctl("status", "--format", "csv")))
    assert rows[0]["node_host"] == "gpu-07" and rows[0]["cache_bytes"] == str(3 * 1024**3)
    assert rows[0]["dropped"] == "5" and rows[0]["backends_ok"] == "1/2 (down: gcs)" and rows[1]["alive"] == "false"
    assert rows[0]["warm"] == "s3:ds/ 25%, 1 done, 1 failed" and rows[1]["warm"] == ""
