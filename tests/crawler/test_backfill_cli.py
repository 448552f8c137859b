"""`warpdrive backfill --dry-run` at the edge: summary, bad lines by number, one-line errors (no services needed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from warpdrive.compose.main import cli
from warpdrive.schemas.config import dump_toml


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "warpdrive.toml"
    p.write_text(dump_toml({"backends": [{"name": "nfs", "url": f"file://{tmp_path}/data"}]}))
    return p


def test_dry_run_summary_and_bad_lines(tmp_path: Path) -> None:
    good = [
        orjson.dumps(
            {
                "timestamp": f"2026-0{m}-01T00:00:00Z",
                "user_id": "u",
                "backend_name": "nfs",
                "path": f"/p/{m}",
                "operation": "read",
            }
        ).decode()
        for m in (3, 1, 2)
    ]
    lines = [
        good[0],
        "{broken",
        good[1],
        "",
        orjson.dumps(
            {"timestamp": "x", "user_id": "u", "backend_name": "other", "path": "p", "operation": "read"}
        ).decode(),
        '{"timestamp": "2026-01-01T00:00:00Z", "user_id": "u", "backend_name": "nfs", "path": "a/../b", '
        '"operation": "read"}',
        good[2],
    ]
    log = tmp_path / "h.jsonl"
    log.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["backfill", "--dry-run", "--config", str(_config(tmp_path)), str(log)])
    assert r.exit_code == 0, r.output
    assert "6 lines read: would import 3, skipped 1 (1 unknown backend), unparseable 2" in r.output
    assert f"bad line file://{log}:2: not JSON" in r.output and f"bad line file://{log}:6: path" in r.output
    nfs = next(line for line in r.output.splitlines() if line.strip().startswith("nfs"))
    assert "2026-01-01T00:00:00.000000Z" in nfs and "2026-03-01T00:00:00.000000Z" in nfs and " 3 " in nfs
    doc = orjson.loads(
        CliRunner()
        .invoke(cli, ["backfill", "--dry-run", "--json", "--config", str(_config(tmp_path)), str(log)])
        .output
    )
    assert doc["bad_lines"][0][1:] == [2, doc["bad_lines"][0][2]] and doc["backends"]["nfs"]["events"] == 3


def test_errors_are_one_line(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    r = CliRunner().invoke(cli, ["backfill", "--config", cfg, str(tmp_path / "missing.log")])
    assert r.exit_code == 1 and r.output.strip().startswith("Error:") and "no such file" in r.output
    (tmp_path / "odd.log").write_text("hello world\n")
    r = CliRunner().invoke(cli, ["backfill", "--dry-run", "--config", cfg, str(tmp_path / "odd.log")])
    assert r.exit_code == 1 and "cannot tell the format" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["backfill", "--config", cfg, "ftp://h/x"])
    assert r.exit_code == 1 and "scheme 'ftp' not supported" in r.output


def test_parallel_parsing_equals_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of lines parsed by worker processes give the same messages (ids from file and line) and summary."""
    from warpdrive.crawler import backfill as bf
    from warpdrive.schemas.config import load
    from warpdrive.schemas.aggregate import expand
    from warpdrive.schemas.records import decode_batch

    monkeypatch.setattr(bf, "CHUNK", 4096)  # many blocks from a small file
    lines = []
    for i in range(3000):
        lines.append(
            "{broken"
            if i % 997 == 5
            else ""
            if i % 501 == 7
            else orjson.dumps(
                {
                    "timestamp": f"2026-0{i % 9 + 1}-01T00:00:00Z",
                    "user_id": f"u{i % 7}",
                    "backend_name": "nfs" if i % 13 else "elsewhere",
                    "path": f"/p/{i}",
                    "operation": "read",
                }
            ).decode()
        )
    log = tmp_path / "h.jsonl"
    log.write_text("\n".join(lines) + "\n")
    cfg = load(_config(tmp_path))
    runs = []
    for jobs in (1, 2):
        summary = bf.Summary()
        files = bf.log_files(cfg, str(log))
        resolver = bf.Resolver(cfg.backends, {})
        msgs = list(bf._messages(files, None, resolver, {b.name: b.url for b in cfg.backends}, summary, 100, jobs))
        events = [(e.event_id, e.seq, e.path) for _, v, _ in msgs for b in decode_batch(v) for e in expand(b)]
        runs.append((events, summary.as_dict()))
    assert runs[0] == runs[1]
    events, summary = runs[0]
    expect = [i + 1 for i in range(3000) if i % 997 != 5 and i % 501 != 7 and i % 13]
    assert [seq for _, seq, _ in events] == expect and all(p == f"p/{s - 1}" for _, s, p in events)
    assert summary["unparseable"] == 4 and [b[1] for b in summary["bad_lines"]] == [6, 1003, 2000, 2997]
    assert summary["lines"] == 3000 - 6 and summary["unknown_backend"] == sum(
        1 for i in range(3000) if i % 13 == 0 and i % 997 != 5 and i % 501 != 7
    )


def test_gcs_usage_log_dry_run(tmp_path: Path) -> None:
    """A realistic GCS usage log, sniffed: reads counted per backend, every other line skipped with its reason."""
    from tests.crawler.test_logformats import GCS_USAGE

    cfg = tmp_path / "warpdrive.toml"
    cfg.write_text(
        dump_toml({"backends": [{"name": "gcs", "url": "gs://gb"}], "history": {"users": {"10.1.2.3": "alice"}}})
    )
    log = tmp_path / "usage_2026_03_01_10_00_00_0123_v0"
    log.write_text(GCS_USAGE)
    r = CliRunner().invoke(cli, ["backfill", "--dry-run", "--json", "--config", str(cfg), str(log)])
    assert r.exit_code == 0, r.output
    doc = orjson.loads(r.output)
    assert doc["formats"] == {"gcs-usage-log": 1} and doc["lines"] == 10
    assert doc["backends"] == {
        "gcs": {"first": "2026-03-01T10:00:00.123456Z", "last": "2026-03-01T10:00:01.000000Z", "events": 2, "gaps": []}
    }
    assert doc["skipped"] == {
        "CSV header": 1,
        "method POST": 1,
        "bucket request": 1,
        "failed request": 1,
        "unknown backend": 1,
        "method DELETE": 1,
    }
    assert doc["unparseable"] == 2 and [b[1] for b in doc["bad_lines"]] == [9, 10]


def test_days_without_events_are_reported_as_gaps(tmp_path: Path) -> None:
    days = ["2026-01-01", "2026-01-02", "2026-01-04", "2026-01-09", "2026-01-10"]  # 03: one quiet day; 05..08: a gap
    log = tmp_path / "h.jsonl"
    log.write_text(
        "".join(
            orjson.dumps(
                {
                    "timestamp": f"{day}T12:00:00Z",
                    "user_id": "u",
                    "backend_name": "nfs",
                    "path": f"p/{day}",
                    "operation": "read",
                }
            ).decode()
            + "\n"
            for day in days
        )
    )
    r = CliRunner().invoke(cli, ["backfill", "--dry-run", "--config", str(_config(tmp_path)), str(log)])
    assert r.exit_code == 0, r.output
    assert "gap: no events 2026-01-05..2026-01-08 (4 days)" in r.output and "2026-01-03" not in r.output
    doc = orjson.loads(
        CliRunner()
        .invoke(cli, ["backfill", "--dry-run", "--json", "--config", str(_config(tmp_path)), str(log)])
        .output
    )
    assert doc["backends"]["nfs"]["gaps"] == [["2026-01-05", "2026-01-08", 4]]
