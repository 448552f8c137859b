"""The CLI without services: option types, rendering, help, and the errors raised before any request."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone

import click
import pytest
from click.testing import CliRunner

from warpdrive.cli.follow import describe, line
from warpdrive.cli.main import cli
from warpdrive.cli.output import Column, ago, human_time, render
from warpdrive.cli.params import LOCATION, PERIOD, SIZE, Location


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        cli,
        list(args),
        env={"WARPDRIVE_CONTROL_PLANE": None, "WARPDRIVE_TOKEN": None, "WARPDRIVE_CONFIG": None, **(env or {})},
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("10GB", 10 * 1000**3),
        ("10GiB", 10 * 1024**3),
        ("1.5T", int(1.5 * 1024**4)),
        ("500TB", 500 * 1000**4),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("1048576", 1048576),
        ("0", 0),
    ],
)
def test_size_option_parses(text: str, expected: int) -> None:
    assert SIZE.convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["10XB", "ten", "-5", "1.5", "", "1e9"])
def test_size_option_rejects(text: str) -> None:
    with pytest.raises(click.BadParameter):
        SIZE.convert(text, None, None)


def test_bad_size_is_a_one_line_usage_error_before_any_request() -> None:
    # The control plane is unreachable: exit 2 proves the value was rejected before any request.
    r = run("--control-plane", f"http://127.0.0.1:{closed_port()}", "stale", "--min-size", "10XB")
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--min-size" in lines[0] and "10XB" in lines[0]


def test_quota_soft_above_hard_is_a_usage_error() -> None:
    r = run(
        "--control-plane",
        f"http://127.0.0.1:{closed_port()}",
        "quota",
        "set",
        "--team",
        "vision",
        "--soft",
        "2T",
        "--hard",
        "1T",
    )
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "exceeds the hard limit" in r.stderr


def test_period_option() -> None:
    assert PERIOD.convert("30d", None, None) == 30
    assert PERIOD.convert("12w", None, None) == 84
    assert PERIOD.convert("90", None, None) == 90
    assert PERIOD.convert("1y", None, None) == 365  # the growth command's own help example
    for bad in ("0d", "thirty", "3m", "20y"):
        with pytest.raises(click.BadParameter):
            PERIOD.convert(bad, None, None)


def test_location_option() -> None:
    assert LOCATION.convert("s3:datasets/x", None, None) == Location("s3", "datasets/x")
    assert LOCATION.convert("s3:", None, None) == Location("s3", "")
    assert LOCATION.convert("datasets/x", None, None) == Location(None, "datasets/x")
    # A colon after a slash is part of a path, not a backend separator.
    assert LOCATION.convert("runs/a:b", None, None) == Location(None, "runs/a:b")
    with pytest.raises(click.BadParameter):
        LOCATION.convert(":x", None, None)


ROWS = [
    {
        "team": "vision",
        "total_bytes": 1536 * 1024**3,
        "file_count": 1200,
        "last_access": "2026-11-25T14:03:07.5Z",
        "tags": ["a", "b"],
    },
    {"team": "unowned", "total_bytes": 512, "file_count": 1, "last_access": None, "tags": []},
]
COLS = [
    Column("team", "TEAM"),
    Column("file_count", "FILES", "int"),
    Column("total_bytes", "SIZE", "size"),
    Column("last_access", "LAST ACCESS", "time"),
]


def test_table_shows_human_sizes_and_times() -> None:
    out = render("table", ROWS, COLS)
    lines = out.splitlines()
    assert lines[0].split() == ["TEAM", "FILES", "SIZE", "LAST", "ACCESS"]
    assert "1.50 TiB" in lines[2] and "1,200" in lines[2] and "2026-11-25 14:03" in lines[2]
    assert "512 B" in lines[3] and lines[3].rstrip().endswith("-")
    assert render("table", [], COLS) == "(none)"


def test_csv_keeps_exact_bytes() -> None:
    out = render("csv", ROWS, [*COLS, Column("tags", "TAGS")])
    assert out.splitlines() == [
        "team,file_count,total_bytes,last_access,tags",
        f'vision,1200,{1536 * 1024**3},2026-11-25T14:03:07.5Z,"[""a"",""b""]"',
        "unowned,1,512,,[]",
    ]


def test_json_prints_the_document_unchanged() -> None:
    doc = {"items": ROWS, "total_bytes": 1}
    assert json.loads(render("json", ROWS, COLS, doc)) == doc
    assert json.loads(render("json", ROWS, COLS)) == ROWS


def test_times() -> None:
    assert human_time("2026-11-25T14:03:07.123456Z") == "2026-11-25 14:03"
    assert human_time("2026-11-01") == "2026-11-01"
    assert human_time(None) == "-"
    now = datetime(2026, 11, 25, 14, 0, 0, tzinfo=timezone.utc)
    assert ago("2026-11-25T13:59:48Z", now) == "12s ago"
    assert ago("2026-11-25T11:00:00Z", now) == "3h ago"
    assert ago(None, now) == "never"


def test_job_progress_text() -> None:
    fraction, text = describe({"bytes_done": 512 * 1024**2, "bytes_total": 1024**3, "files_done": 3, "files_total": 10})
    assert fraction == 0.5
    assert text == "512 MiB/1.00 GiB, 3/10 files"
    job = {
        "job_id": "j1",
        "state": "running",
        "progress": {"files_done": 2, "files_total": 8, "src": "s3:x", "errors": 1, "files_skipped": 0},
    }
    assert line(job) == "job j1 running 25%: 2/8 files, errors=1"
    assert line({"job_id": "j2", "state": "queued", "progress": {}}) == "job j2 queued"
    # A warming agent's counters; other byte counters are sizes too.
    assert describe({"files": 1, "files_total": 4, "bytes": 1024, "bytes_total": 4096, "bytes_fetched": 3 << 20}) == (
        0.25,
        "1.00 KiB/4.00 KiB, 1/4 files, bytes_fetched=3.00 MiB",
    )
    # A dry-run move only counts what it would move.
    assert describe({"dry_run": True, "files_total": 1200, "bytes_total": 5 << 30, "files_done": 0}) == (
        None,
        "counted 1,200 files, 5.00 GiB",
    )


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in all_commands(cli)], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_examples(path: tuple[str, ...]) -> None:
    r = run(*path, "--help")
    assert r.exit_code == 0, r.output
    assert "Examples:" in r.stdout and f"warpdrive-ctl {' '.join(path)}" in r.stdout.partition("Examples:")[2]


@pytest.mark.parametrize("args", [(), ("jobs",), ("quota",)])
def test_a_group_without_a_command_shows_its_help_as_a_usage_error(args: tuple[str, ...]) -> None:
    r = run(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"Usage: warpdrive-ctl {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "Examples:" in r.stderr and len(r.stderr.splitlines()) > 5  # the help as it is, not squeezed into one line


def test_version() -> None:
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("warpdrive-ctl, version ")


def test_unreachable_control_plane_is_one_line_exit_1() -> None:
    port = closed_port()
    r = run("--control-plane", f"http://127.0.0.1:{port}", "usage", "--group-by", "team")
    assert r.exit_code == 1
    assert (
        r.stderr.strip()
        == f"Error: cannot reach the control plane at http://127.0.0.1:{port}: [Errno 111] Connection refused"
    )
    assert "Traceback" not in r.output


def test_url_from_env_and_config(tmp_path) -> None:
    port = closed_port()
    r = run("usage", env={"WARPDRIVE_CONTROL_PLANE": f"http://127.0.0.1:{port}"})
    assert r.exit_code == 1 and f"127.0.0.1:{port}" in r.stderr
    conf = tmp_path / "w.toml"
    conf.write_text(f'[api]\nlisten = "127.0.0.1:{port}"\n')
    r = run("--config", str(conf), "backends")
    assert r.exit_code == 1 and f"http://127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize(
    "content,needle",
    [
        ("[api\n", "not valid TOML"),
        ("[api]\nlisten = 'nope'\n", "api.listen"),
        ("[bogus]\n", "bogus: unknown key"),
    ],
)
def test_config_errors_are_one_line(tmp_path, content: str, needle: str) -> None:
    conf = tmp_path / "w.toml"
    conf.write_text(content)
    r = run("--config", str(conf), "usage")
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr


def test_missing_config_file(tmp_path) -> None:
    r = run("--config", str(tmp_path / "nope.toml"), "usage")
    assert r.exit_code == 1 and r.stderr.strip().startswith("Error: config: file") and "--control-plane" in r.stderr


def test_bad_control_plane_url() -> None:
    r = run("--control-plane", "ftp://x", "usage")
    assert r.exit_code == 1 and "invalid control-plane URL" in r.stderr


def test_unknown_command_is_usage_error() -> None:
    r = run("frobnicate")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
