"""Advisory locks: one home (schemas/locks.py), distinct ids, no id defined anywhere else."""

from __future__ import annotations

import re
from pathlib import Path

from warpdrive.schemas import locks

ROOT = Path(__file__).parents[2]
PACKAGES = ["agent", "api", "cli", "crawler", "schemas", "streams"]


def test_lock_ids_are_distinct_and_all_listed() -> None:
    assert len(locks.ALL) == 11
    assert len(set(locks.ALL.values())) == len(locks.ALL)
    # The docstring names each one, so the stated order covers them all.
    for name in locks.ALL:
        assert f"``{name}``" in (locks.__doc__ or ""), name


def test_no_module_defines_its_own_lock_id() -> None:
    own = re.compile(r"^\s*\w*LOCK\w*\s*=\s*(0x[0-9a-fA-F]+|\d+)", re.M)
    found = [
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if p.name != "locks.py" and own.search(p.read_text())
    ]
    assert found == []
