"""`warpdrive backfill --dry-run` at the edge: summary, bad lines by number, one-line errors (no services needed)."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from warpdrive.compose.main import cli
from warpdrive.schemas.config import dump_toml


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "warpdrive.toml"
    p.write_text(dump_toml({"backends": [{"name": "nfs", "url": f"file://{tmp_path}/data"}]}))
    return p


def test_dry_run_summary_and_bad_lines(tmp_path: Path) -> None:
    good = [orjson.dumps({"timestamp": f"2026-0{m}-01T00:00:00Z", "user_id": "u", "backend_name": "nfs",
                          "path": f"/p/{m}", "operation": "read"}).decode() for m in (3, 1, 2)]
    lines = [good[0], "{broken", good[1], "", orjson.dumps({"timestamp": "x", "user_id": "u", "backend_name": "other",
                                                           "path": "p", "operation": "read"}).decode(),
             '{"timestamp": "2026-01-01T00:00:00Z", "user_id": "u", "backend_name": "nfs", "path": "a/../b", '
             '"operation": "read"}', good[2]]
    log = tmp_path / "h.jsonl"
    log.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["backfill", "--dry-run", "--config", str(_config(tmp_path)), str(log)])
    assert r.exit_code == 0, r.output
    assert "6 lines read: would import 3, skipped 1 (1 unknown backend), unparseable 2" in r.output
    assert f"bad line file://{log}:2: not JSON" in r.output and f"bad line file://{log}:6: path" in r.output
    nfs = next(line for line in r.output.splitlines() if line.strip().startswith("nfs"))
    assert "2026-01-01T00:00:00.000000Z" in nfs and "2026-03-01T00:00:00.000000Z" in nfs and " 3 " in nfs
    doc = orjson.loads(CliRunner().invoke(cli, ["backfill", "--dry-run", "--json", "--config",
                                                str(_config(tmp_path)), str(log)]).output)
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
