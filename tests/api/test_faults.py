"""PostgreSQL or Kafka going away under the API: clear 503s, commands kept in the outbox until Kafka is
back. Runs on a PRIVATE stack (it stops services on purpose)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from starlette.testclient import TestClient

from tests.helpers import wait_until
from warpdrive.api.app import create_app
from warpdrive.schemas.config import ApiToken, from_dict
from warpdrive.schemas.db import connect_and_migrate
from warpdrive.schemas.topics import ensure_topics

from .conftest import ADMIN, read_commands

pytestmark = pytest.mark.services


async def _migrate(cfg) -> None:
    await (await connect_and_migrate(cfg)).close()


def test_database_and_broker_outages(private_stack) -> None:
    st = private_stack(("postgres", "kafka"))
    cfg = from_dict(st.config_dict({"postgres": {"dsn": st.postgres_dsn()}}))
    asyncio.run(ensure_topics(cfg.kafka))
    asyncio.run(_migrate(cfg))
    cfg = dataclasses.replace(cfg, api=dataclasses.replace(
        cfg.api, insecure_no_auth=False, tokens=[ApiToken(ADMIN, "admin", "ops")]))
    h = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        wait_until(lambda: c.get("/readyz").json()["kafka_producer"], 30, what="the producer to connect")

        # Kafka down: the job is accepted and its command waits in the outbox.
        st.stop("kafka")
        r = c.post("/api/v1/jobs", json={"kind": "crawl", "args": {"backend": "local"}}, headers=h)
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        assert c.get("/readyz").json()["commands_pending"] == 1

        assert c.get("/api/v1/usage", headers=h).status_code == 200  # reads do not need Kafka

        st.start_kafka()
        wait_until(lambda: c.get("/readyz").json().get("commands_pending") == 0, 60, what="the outbox to drain")
        # at least once: a send that timed out while the broker was down may also have gone out
        assert {cmd.command_id for cmd in read_commands(cfg)} == {job_id}

        # PostgreSQL down: JSON 503s, liveness unaffected.
        st.stop("postgres")
        r = c.get("/api/v1/usage", headers=h)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert c.get("/readyz").status_code == 503 and c.get("/healthz").status_code == 200
