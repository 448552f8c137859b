"""Fixtures for the API tests: the app in-process (Starlette TestClient, lifespan and all) over the
session's real PostgreSQL database, with one viewer and one admin token; tables set up by inserting rows."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Iterator

import asyncpg
import pytest
from starlette.testclient import TestClient

from warpdrive.schemas.config import ApiToken, Config

VIEWER = "viewer-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef00"

# Tables the API reads or writes; emptied before each test that asks for a clean database.
TABLES = (
    "storage_files",
    "access_log",
    "access_daily",
    "user_files",
    "user_reads",
    "teams",
    "quotas",
    "quota_state",
    "usage_rollup",
    "growth_daily",
    "telemetry_coverage",
    "crawls",
    "agents",
    "jobs",
    "deletion_marks",
    "ownership_rules",
    "tree_dirs",
    "tree_teams",
    "tree_activity",
    "command_outbox",
    "dead_letters",
    "trash_items",
    "tree_inactive",
    "owner_inactive",
)


@pytest.fixture(scope="session")
def api_cfg(cfg: Config) -> Config:
    api = dataclasses.replace(
        cfg.api,
        insecure_no_auth=False,
        max_page_size=500,
        tokens=[
            ApiToken(token=VIEWER, role="viewer", name="alice-viewer"),
            ApiToken(token=ADMIN, role="admin", name="root-admin"),
        ],
    )
    return dataclasses.replace(cfg, api=api)


class Db:
    """Synchronous access to the session database for setting up and checking state."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def _run(self, fn: str, sql: str, args: tuple) -> Any:
        conn = await asyncpg.connect(self.dsn, server_settings={"timezone": "UTC"})
        try:
            return await getattr(conn, fn)(sql, *args)
        finally:
            await conn.close()

    def execute(self, sql: str, *args: Any) -> Any:
        return asyncio.run(self._run("execute", sql, args))

    def executemany(self, sql: str, rows: list[tuple]) -> Any:
        return asyncio.run(self._run("executemany", sql, (rows,)))

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return asyncio.run(self._run("fetch", sql, args))

    def fetchval(self, sql: str, *args: Any) -> Any:
        return asyncio.run(self._run("fetchval", sql, args))

    def truncate(self) -> None:
        self.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")


@pytest.fixture(scope="session")
def db(api_cfg: Config) -> Db:
    return Db(api_cfg.postgres.dsn)


@pytest.fixture
def clean(db: Db) -> Db:
    db.truncate()
    return db


@pytest.fixture(scope="session")
def app_client(api_cfg: Config) -> Iterator[TestClient]:
    from warpdrive.api.app import create_app

    with TestClient(create_app(api_cfg), raise_server_exceptions=False, base_url=f"http://{api_cfg.api.listen}") as c:
        yield c


class Api:
    """The in-process client with a role's token on every request."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, url: str, **kw: Any):
        return self.client.request(method, url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def get(self, url: str, **kw: Any):
        return self.request("GET", url, **kw)

    def put(self, url: str, **kw: Any):
        return self.request("PUT", url, **kw)

    def post(self, url: str, **kw: Any):
        return self.request("POST", url, **kw)

    def delete(self, url: str, **kw: Any):
        return self.request("DELETE", url, **kw)


@pytest.fixture
def viewer(app_client: TestClient) -> Api:
    return Api(app_client, VIEWER)


@pytest.fixture
def admin(app_client: TestClient) -> Api:
    return Api(app_client, ADMIN)


def read_commands(cfg: Config) -> list[Any]:
    """Every Command on the session's COMMANDS topic so far (read from the real broker), once the API's
    outbox has published everything it accepted."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from tests.helpers import wait_until
    from warpdrive.schemas import records, topics

    db = Db(cfg.postgres.dsn)
    wait_until(lambda: db.fetchval("SELECT count(*) FROM command_outbox") == 0, 30, what="the command outbox to drain")

    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(
            **cfg.kafka.client_options(), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            name = topics.COMMANDS.full_name(cfg.kafka)
            tps = [TopicPartition(name, p) for p in range(topics.COMMANDS.partitions or cfg.kafka.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            out: list[Any] = []
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                    for m in msgs:
                        out += records.decode_batch(m.value, records.Command)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())
