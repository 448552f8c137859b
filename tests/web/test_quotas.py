"""The dashboard's quotas (issue 16) in Debian's Chromium: units as typed, the confirmation for a team nobody is in,
usage bars with the soft mark (red past hard), and the teams over a limit on top of the Overview, refreshed without
a reload. Same seeded database, API and driver as test_dashboard.py; the quotas it had are restored at the end."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.web.test_dashboard import _drive, api_url, seeded, web_dist  # noqa: F401 (fixtures)
from tests.web.test_dashboard import SHOTS


async def _quotas(dsn: str, restore: list | None = None) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        if restore is not None:
            await conn.execute("DELETE FROM quotas")
            await conn.executemany("INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit)"
                                   " VALUES ($1, $2, $3, $4)", restore)
        return [tuple(r) for r in await conn.fetch(
            "SELECT team_name, backend_name, soft_limit, hard_limit FROM quotas ORDER BY 1, 2")]
    finally:
        await conn.close()


@pytest.mark.services
@pytest.mark.browser
def test_quota_bars_units_confirmation_and_live_overview(api_url: str, seeded: str) -> None:  # noqa: F811
    before = asyncio.run(_quotas(seeded))
    try:
        out = _drive({
            "scenario": "quotas", "base": api_url, "shots": str(SHOTS),
            "typed": {"team": "vision", "backend": "s3", "soft": "500TB", "hard": "600TB"},
            "ghost": {"team": "ghost-team", "backend": "", "soft": "1GiB", "hard": "2GiB"},
            "over": {"team": "nlp", "backend": "", "soft": "10GiB", "hard": "20GiB"},  # nlp owns 29 GiB
            "later": {"team": "vision", "backend": "s3", "soft": "10GB", "hard": "100GB"},  # vision owns 116 GB on s3
        })
        after = asyncio.run(_quotas(seeded))
    finally:
        asyncio.run(_quotas(seeded, restore=before))
    print(f"quota alerts: a quota change shown on the Overview {out['refreshMs']} ms after the PUT, without a reload")

    assert "EDQUOT" in out["hardHelp"] and "reads, listing and deletes still work" in out["hardHelp"]
    # Units as typed: 500TB answers 500 TB, in the notice, the table and the edit form.
    assert "500 TB / 600 TB (soft / hard)" in out["typedNotice"]
    assert out["typedCells"] == ["vision", "s3", "116 GB", "500 TB", "600 TB"]
    assert out["typedEdit"] == ["500TB", "600TB"]
    # A team nobody is in and that owns nothing: asked first (accepted), then saved.
    assert len(out["dialogs"]) == 1 and "ghost-team" in out["dialogs"][0] and "no members" in out["dialogs"][0]
    assert "Saved the quota of ghost-team on all backends: 1.00 GiB / 2.00 GiB" in out["ghostNotice"]
    assert ("ghost-team", None, 1 << 30, 2 << 30) in after
    # Bars: share of the hard limit, soft limit marked, red past hard.
    assert out["overBar"]["over"] == "hard" and out["overBar"]["pct"] == "145.0%" and out["overBar"]["soft"] == "50%"
    assert out["overBar"]["red"] == "rgb(198, 40, 40)"
    assert out["typedBar"]["over"] == "none" and out["typedBar"]["red"] != "rgb(198, 40, 40)"
    # Overview: the teams over a limit on top (above the chart); a new breach appears without a reload.
    assert out["alertsFirst"]["beforeChart"]
    assert out["alertTeams"] == [["nlp", "all"]]
    assert out["laterStatus"] == 200
    assert out["alertTeamsLater"] == [["nlp", "all"], ["vision", "s3"]]  # both over hard: the fuller first
    assert "116 GB / 10.0 GB / 100 GB" in out["alertText"]
    assert out["consoleErrors"] == [] or all("409" in e for e in out["consoleErrors"]), out["consoleErrors"]
