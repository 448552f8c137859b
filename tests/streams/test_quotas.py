"""Quota transitions: evaluated after usage changes, published once per transition, schema-valid."""

from __future__ import annotations

import asyncio
import json
import uuid
from importlib import resources

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.helpers import Procs, wait_until
from tests.streams.events import crawl, produce_batches, query
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import Command, utc_now
from warpdrive.schemas.topics import COMMANDS, QUOTA_BREACH, QUOTA_STATE

pytestmark = pytest.mark.services


def _read(cfg: Config, topic_name: str, n: int) -> list[tuple[bytes, dict]]:
    """The first ``n`` messages of a topic (key, decoded value), from the beginning."""
    async def run() -> list[tuple[bytes, dict]]:
        c = AIOKafkaConsumer(topic_name, **cfg.kafka.client_options(), auto_offset_reset="earliest",
                             group_id=None, enable_auto_commit=False)
        await c.start()
        out: list[tuple[bytes, dict]] = []
        try:
            async with asyncio.timeout(30):
                while len(out) < n:
                    for recs in (await c.getmany(timeout_ms=500)).values():
                        out += [(r.key, orjson.loads(r.value)) for r in recs]
            return out
        finally:
            await c.stop()

    return asyncio.run(run())


def test_quota_levels_publish_transitions_only(cfg: Config, procs: Procs) -> None:
    dsn, b, team = cfg.postgres.dsn, "quo", "quotateam"
    query(dsn, "INSERT INTO teams VALUES ('qu', $1) ON CONFLICT DO NOTHING", team)
    query(dsn, "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, 'quo', 1000, 2000),"
               " ($1, NULL, 5000, 9000)", team)
    procs.start("streams", "streams", "worker")

    def level() -> str | None:
        r = query(dsn, "SELECT level FROM quota_state WHERE team_name = $1 AND backend_name = 'quo'", team)
        return r[0]["level"] if r else None

    files = {"f1": {"size_bytes": 600, "owner_user": "qu"}}
    crawl(cfg, "q1", b, files)
    wait_until(lambda: level() == "ok", 30, what="level ok")
    files["f2"] = {"size_bytes": 600, "owner_user": "qu"}  # 1200 > soft
    crawl(cfg, "q2", b, files)
    wait_until(lambda: level() == "soft", 30, what="level soft")
    crawl(cfg, "q3", b, files)  # the same usage again: no new transition
    files["f3"] = {"size_bytes": 900, "owner_user": "qu"}  # 2100 > hard
    crawl(cfg, "q4", b, files)
    wait_until(lambda: level() == "hard", 30, what="level hard")
    crawl(cfg, "q5", b, {"f1": files["f1"]})  # the others are gone: 600
    wait_until(lambda: level() == "ok", 30, what="level ok again")
    # Quota edits via the API are announced (or picked up by the periodic evaluation).
    query(dsn, "UPDATE quotas SET soft_limit = 100, hard_limit = 500 WHERE team_name = $1 AND backend_name = 'quo'",
          team)
    produce_batches(cfg, COMMANDS, [[Command(uuid.uuid4().hex, "quota", utc_now())]], "target")
    wait_until(lambda: level() == "hard", 30, what="level hard after the quota edit")

    schema = json.loads(resources.files("warpdrive.schemas").joinpath("json/quota-breach.v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    breaches = _read(cfg, QUOTA_BREACH.full_name(cfg.kafka), 4)
    for _, v in breaches:
        jsonschema.validate(v, schema, format_checker=jsonschema.FormatChecker())
    mine = [(k, v["backend_name"], v["previous_level"], v["level"], v["usage_bytes"]) for k, v in breaches
            if v["team"] == team]
    assert mine == [(team.encode(), "quo", "ok", "soft", 1200), (team.encode(), "quo", "soft", "hard", 2100),
                    (team.encode(), "quo", "hard", "ok", 600), (team.encode(), "quo", "ok", "hard", 600)]
    states = _read(cfg, QUOTA_STATE.full_name(cfg.kafka), 4)
    assert [k for k, v in states if v["team"] == team] == [f"{team}/quo".encode()] * 4
    log = procs.log("streams")
    assert "WARNING" in log and f"quota soft: team {team} on quo" in log
    # the all-backends quota (5000/9000) never moved: it has a state row and no transition
    assert query(dsn, "SELECT level FROM quota_state WHERE team_name = $1 AND backend_name IS NULL", team)[0][0] == "ok"
