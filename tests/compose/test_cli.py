"""`warpdrive` command errors: one line naming the problem, exit code != 0 (in-process, CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from warpdrive.compose.main import cli


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), env=env)
    return res.exit_code, res.output


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text("[kafka]\nbootstrap = 'x:1'\n")
    code, out = run("config", "--config", str(f))
    assert code == 1
    assert out.strip().splitlines() == [out.strip()]
    assert "kafka.bootstrap: unknown key" in out


def test_bad_backend_url_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text("[[backends]]\nname = 'x'\nurl = 'ftp://host/p'\n")
    code, out = run("config", "--config", str(f))
    assert code == 1 and "backends[0].url: scheme 'ftp' not supported" in out


def test_unreachable_kafka_is_one_error_line(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text("[kafka]\nbootstrap_servers = '127.0.0.1:1'\n")
    code, out = run("topics", "create", "--config", str(f))
    assert code == 1
    assert "Error: kafka 127.0.0.1:1:" in out and "Traceback" not in out


def test_missing_config_file() -> None:
    code, out = run("config", "--config", "/nonexistent/w.toml")
    assert code != 0 and "does not exist" in out


@pytest.mark.parametrize("component", ["agent", "streams", "api", "crawler"])
def test_component_help_lists(component: str) -> None:
    code, out = run(component, "--help")
    assert code == 0 and "Usage:" in out
