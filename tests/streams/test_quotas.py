"""Quota transitions: evaluated after usage changes, published once per transition, schema-valid."""

from __future__ import annotations

import asyncio
import signal
import json
import uuid
from importlib import resources

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from pathlib import Path

from tests.helpers import Procs, wait_until
from tests.streams.events import crawl, produce_batches, query
from warpdrive.schemas.config import Config, dump_toml
from warpdrive.schemas.records import Command, utc_now
from warpdrive.schemas.topics import COMMANDS, QUOTA_BREACH, QUOTA_STATE, TEAM_MEMBERSHIP

pytestmark = pytest.mark.services


def _read(cfg: Config, topic_name: str, n: int, until=None) -> list[tuple[bytes, dict | None]]:
    """A foreign consumer (plain aiokafka): the first ``n`` messages of a topic from the beginning (key,
    decoded value or None for a tombstone), or until ``until(messages)`` holds."""

    async def run() -> list[tuple[bytes, dict | None]]:
        c = AIOKafkaConsumer(
            topic_name,
            **cfg.kafka.client_options(),
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
        )
        await c.start()
        out: list[tuple[bytes, dict | None]] = []
        try:
            async with asyncio.timeout(30):
                while len(out) < n if until is None else not until(out):
                    for recs in (await c.getmany(timeout_ms=500)).values():
                        out += [(r.key, None if r.value is None else orjson.loads(r.value)) for r in recs]
            return out
        finally:
            await c.stop()

    return asyncio.run(run())


def _schema(name: str) -> dict:
    schema = json.loads(resources.files("warpdrive.schemas").joinpath(f"json/{name}").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _config_with(cfg: Config, config_dict: dict, tmp_path: Path, *backends: str) -> str:
    """The session config plus local backends named ``backends`` (a quota's backend must be configured)."""
    extra = [{"name": b, "url": f"file://{tmp_path / b}"} for b in backends]
    for b in backends:
        (tmp_path / b).mkdir(exist_ok=True)
    p = tmp_path / f"warpdrive-{'-'.join(backends) or 'base'}.toml"
    p.write_text(dump_toml({**config_dict, "backends": [*config_dict["backends"], *extra]}))
    return str(p)


def test_quota_levels_publish_transitions_only(cfg: Config, config_dict: dict, procs: Procs, tmp_path: Path) -> None:
    dsn, b, team = cfg.postgres.dsn, "quo", "quotateam"
    query(dsn, "INSERT INTO teams VALUES ('qu', $1) ON CONFLICT DO NOTHING", team)
    query(
        dsn,
        "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, 'quo', 1000, 2000),"
        " ($1, NULL, 5000, 9000)",
        team,
    )
    procs.start("streams", "streams", "worker", env={"WARPDRIVE_CONFIG": _config_with(cfg, config_dict, tmp_path, b)})

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
    query(
        dsn, "UPDATE quotas SET soft_limit = 100, hard_limit = 500 WHERE team_name = $1 AND backend_name = 'quo'", team
    )
    produce_batches(cfg, COMMANDS, [[Command(uuid.uuid4().hex, "quota", utc_now())]], "target")
    wait_until(lambda: level() == "hard", 30, what="level hard after the quota edit")

    # the all-backends quota (5000/9000) never moved: it has a state row and no transition
    assert query(dsn, "SELECT level FROM quota_state WHERE team_name = $1 AND backend_name IS NULL", team)[0][0] == "ok"

    # The quota is deleted: its level ends with 'ok', and the state topic gets a tombstone.
    query(dsn, "DELETE FROM quotas WHERE team_name = $1 AND backend_name = 'quo'", team)
    produce_batches(cfg, COMMANDS, [[Command(uuid.uuid4().hex, "quota", utc_now(), {"team": team})]], "target")
    wait_until(
        lambda: not query(dsn, "SELECT 1 FROM quota_state WHERE team_name = $1 AND backend_name = 'quo'", team),
        30,
        what="the deleted quota's state removed",
    )
    # The backend is removed (the worker restarts without it): a quota on it ends the same way.
    query(
        dsn, "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, 'quo', 100, 200)", team
    )
    produce_batches(cfg, COMMANDS, [[Command(uuid.uuid4().hex, "quota", utc_now(), {"team": team})]], "target")
    wait_until(lambda: level() == "hard", 30, what="level hard on the re-created quota")
    procs.kill("streams", signal.SIGTERM)
    procs.start("streams2", "streams", "worker")  # the session config: no backend 'quo'
    wait_until(
        lambda: level() is None,
        60,
        what="the removed backend's quota state ended",
        explain=lambda: procs.tail("streams2"),
    )

    breaches = _read(
        cfg, QUOTA_BREACH.full_name(cfg.kafka), 0, until=lambda ms: sum(v["team"] == team for _, v in ms if v) >= 7
    )
    schema = _schema("quota-breach.v1.json")
    for _, v in breaches:
        jsonschema.validate(v, schema, format_checker=jsonschema.FormatChecker())
    mine = [
        (k, v["backend_name"], v["previous_level"], v["level"], v["usage_bytes"])
        for k, v in breaches
        if v["team"] == team
    ]
    k = team.encode()
    # Exactly one message per transition, in order.
    assert mine == [
        (k, "quo", "ok", "soft", 1200),
        (k, "quo", "soft", "hard", 2100),
        (k, "quo", "hard", "ok", 600),
        (k, "quo", "ok", "hard", 600),
        (k, "quo", "hard", "ok", 600),  # deleted
        (k, "quo", "ok", "hard", 600),
        (k, "quo", "hard", "ok", 600),
    ]  # re-created, backend removed
    stamps = [v["timestamp"] for _, v in breaches if v["team"] == team]
    assert stamps == sorted(stamps), "timestamps never go backwards"
    states = _read(
        cfg,
        QUOTA_STATE.full_name(cfg.kafka),
        0,
        until=lambda ms: sum(key == f"{team}/quo".encode() for key, _ in ms) >= 9,
    )
    mine_states = [(key, v and v["level"]) for key, v in states if key.startswith(k + b"/")]
    assert mine_states == [
        (f"{team}/quo".encode(), lvl) for lvl in ("soft", "hard", "ok", "hard", "ok", None, "hard", "ok", None)
    ]  # None: tombstone
    log = procs.log("streams")
    soft = [line for line in log.splitlines() if "WARNING" in line and f"quota soft: team {team}" in line]
    assert len(soft) == 1, log
    assert (
        f"team {team} on quo is over the soft limit: usage 1.20 kB (1,200 bytes), limit 1.00 kB (1,000 bytes)"
        in soft[0]
    )


def test_membership_is_published_for_agents(cfg: Config, procs: Procs) -> None:
    dsn = cfg.postgres.dsn
    query(dsn, "INSERT INTO teams VALUES ('mem-a', 'mteam1'), ('mem-a', 'mteam2'), ('mem-b', 'mteam1')")
    procs.start("streams", "streams", "worker")
    topic = TEAM_MEMBERSHIP.full_name(cfg.kafka)

    def latest(ms: list) -> dict:
        return {key: v for key, v in ms}

    got = _read(cfg, topic, 0, until=lambda ms: {b"mem-a", b"mem-b"} <= latest(ms).keys())
    schema = _schema("team-membership.v1.json")
    for _, v in got:
        if v is not None:
            jsonschema.validate(v, schema, format_checker=jsonschema.FormatChecker())
    assert latest(got)[b"mem-a"]["teams"] == ["mteam1", "mteam2"] and latest(got)[b"mem-b"]["teams"] == ["mteam1"]
    # Changes made while the worker runs are published live: a removal, and a user left in no team.
    query(dsn, "DELETE FROM teams WHERE user_id = 'mem-a' AND team_name = 'mteam2'")
    query(dsn, "DELETE FROM teams WHERE user_id = 'mem-b'")
    got = _read(
        cfg,
        topic,
        0,
        until=lambda ms: latest(ms).get(b"mem-b", 1) is None and latest(ms)[b"mem-a"]["teams"] == ["mteam1"],
    )
    assert [key for key, v in got if v is None] == [b"mem-b"]  # exactly one tombstone
