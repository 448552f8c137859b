"""Job kinds/states and ownership sentinels: one home each, shared with the API's OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

from warpdrive.schemas import jobs
from warpdrive.schemas.owners import UNOWNED

ROOT = Path(__file__).parents[2]


def test_job_kinds_and_states_are_consistent() -> None:
    assert set(jobs.FINISHED) < set(jobs.STATES)
    assert sorted(jobs.CRAWLER_KINDS + jobs.AGENT_KINDS) == sorted(jobs.KINDS)


def test_unowned_is_the_dashboards_too() -> None:
    assert UNOWNED == json.loads((ROOT / "schemas" / "owners.json").read_text())["unowned"] == "unowned"
    assert 'from "../../schemas/owners.json"' in (ROOT / "web" / "src" / "owners.ts").read_text()
    for src in (ROOT / "web" / "src").rglob("*.ts*"):
        assert '"unowned"' not in src.read_text(), src
