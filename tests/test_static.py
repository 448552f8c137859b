"""Static checks, first tier: ruff (lint, rules in pyproject's [tool.ruff]; format check) and mypy on every package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# The installed package's folders (pyproject's package-dir): warpdrive.<pkg> lives in <repo>/<pkg>.
PACKAGES = ["agent", "api", "cli", "compose", "crawler", "schemas", "streams"]


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"


def test_ruff_lint() -> None:
    _run([sys.executable, "-m", "ruff", "check", "--no-cache", *PACKAGES, "tests", "bench"], ROOT)


def test_ruff_format() -> None:
    # One layout (pyproject's line length), so a diff shows changes, not reflowing.
    _run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *PACKAGES, "tests", "bench"], ROOT)


@pytest.mark.timeout(900)  # --no-incremental over every package: ~1 min idle, several on a loaded machine
def test_mypy(tmp_path: Path) -> None:
    # The editable install's finder is one mypy cannot follow: check a tree of symlinks shaped like the wheel.
    tree = tmp_path / "warpdrive"
    tree.mkdir()
    for pkg in PACKAGES:
        (tree / pkg).symlink_to(ROOT / pkg, target_is_directory=True)
    _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "-p",
            "warpdrive",
        ],
        tmp_path,
    )
