"""PostgreSQL or Kafka going away under the API: clear 503s, commands kept in the outbox until Kafka is
back. Runs on a PRIVATE stack (it stops services on purpose)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

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
    cfg = dataclasses.replace(
        cfg, api=dataclasses.replace(cfg.api, insecure_no_auth=False, tokens=[ApiToken(ADMIN, "admin", "ops")])
    )
    h = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(cfg), raise_server_exceptions=False, base_url="http://localhost") as c:
        wait_until(lambda: c.get("/readyz").json()["kafka_producer"], 30, what="the producer to connect")

        # Kafka down: the job is accepted and its command waits in the outbox.
        st.stop("kafka")
        r = c.post("/api/v1/jobs", json={"kind": "crawl", "args": {"backend": "local"}}, headers=h)
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        assert c.get("/readyz").status_code == 503
        assert "warpdrive_api_commands_pending 1" in c.get("/metrics", headers=h).text

        assert c.get("/api/v1/usage", headers=h).status_code == 200  # reads do not need Kafka

        st.start_kafka()
        wait_until(
            lambda: "warpdrive_api_commands_pending 0" in c.get("/metrics", headers=h).text,
            60,
            what="the outbox to drain",
        )
        # at least once: a send that timed out while the broker was down may also have gone out
        assert {cmd.command_id for cmd in read_commands(cfg)} == {job_id}

        # PostgreSQL down: JSON 503s, liveness unaffected.
        st.stop("postgres")
        r = c.get("/api/v1/usage", headers=h)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert c.get("/readyz").status_code == 503 and c.get("/healthz").status_code == 200


def test_readyz_follows_kafka_killed_hung_and_back(private_stack) -> None:
    """/readyz probes now, with a deadline: 503 at once after kill -9 of the broker, 503 (not a hang) while the
    broker is frozen, 200 again once it is back — with no publish in between to notice anything."""
    st = private_stack(("postgres", "kafka"))
    cfg = from_dict(st.config_dict({"postgres": {"dsn": st.postgres_dsn()}, "api": {"ready_timeout": 1.5}}))
    asyncio.run(ensure_topics(cfg.kafka))
    asyncio.run(_migrate(cfg))  # services refuse an unmigrated database
    with TestClient(create_app(cfg), raise_server_exceptions=False, base_url="http://localhost") as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 30, what="ready")
        assert c.get("/readyz").json()["kafka"] is True

        st.kill("kafka", signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and "within 1.5s" in r.json()["error"]["message"], r.text
        finally:
            st.kill("kafka", signal.SIGCONT)
        wait_until(lambda: c.get("/readyz").status_code == 200, 30, what="ready after the broker thawed")

        st.kill("kafka")  # SIGKILL, by the pid the stack recorded
        r = c.get("/readyz")  # the very first probe after the kill, no publish needed to notice
        assert r.status_code == 503 and "Kafka unreachable" in r.json()["error"]["message"], r.text
        assert c.get("/healthz").status_code == 200

        st.start_kafka()
        wait_until(lambda: c.get("/readyz").status_code == 200, 60, what="ready after the broker restarted")
