"""The dashboard's own unit tests (vitest: size formatting, chart pivot, ticks, breadcrumbs, error text), in the
unit tier: Node and web/node_modules (`npm ci` of compose/dev.sh setup), no browser and no built dashboard."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).parents[2] / "web"


def test_vitest() -> None:
    assert shutil.which("npx"), "npx not found: install Node (compose/dev.sh setup)"
    assert (WEB / "node_modules" / ".bin" / "vitest").exists(), "web/node_modules missing: run compose/dev.sh setup"
    r = subprocess.run(["npx", "--no-install", "vitest", "run"], cwd=WEB, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"vitest failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert " passed" in r.stdout, r.stdout[-2000:]
