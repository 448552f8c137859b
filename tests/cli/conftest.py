"""The real API server, over HTTP, with the session's real PostgreSQL behind it.

One `warpdrive api serve` subprocess per session, configured with an admin and a viewer token (its
own config file derived from the session's); tests set up states by writing the tables directly.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from click.testing import CliRunner, Result

from warpdrive.cli.main import cli
from warpdrive.compose.stack import Stack
from warpdrive.schemas.config import Config, dump_toml, load
from warpdrive.schemas.db import connect_and_migrate, create_database, drop_database
from warpdrive.schemas.topics import ensure_topics

from tests.cli.support import ADMIN, VIEWER, Db
from tests.helpers import Procs, wait_until

# Every table a CLI test may write; emptied before each test so states never leak between tests.
TABLES = (
    "storage_files",
    "access_log",
    "user_files",
    "user_reads",
    "teams",
    "quotas",
    "ownership_rules",
    "usage_rollup",
    "access_daily",
    "growth_daily",
    "telemetry_coverage",
    "crawls",
    "quota_state",
    "agents",
    "jobs",
    "deletion_marks",
    "tree_dirs",
    "tree_teams",
    "tree_activity",
    "history_lines",
    "history_coverage",
    "history_days",
    "growth_reconstructed",
    "growth_reconstructed_at",
    "tree_inactive",
    "owner_inactive",
    "trash_items",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class CliStack:
    """The CLI tests' own config: own database, topics, consumer group and a private backend (an API
    server on the session's database would publish other tests' outbox rows to the CLI's topics)."""

    config_path: Path
    data_dir: Path  # root of the private file:// backend named "cli"
    port: int
    dsn: str


@pytest.fixture(scope="session")
def cli_stack(
    cfg: Config, config_dict: dict, stack: Stack, session_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliStack]:
    base, name = stack.postgres_dsn(), f"wdtest_{session_id}_cli"
    dsn = asyncio.run(create_database(base, name))
    d = tmp_path_factory.mktemp("cli")
    data = d / "data"
    data.mkdir()
    port = _free_port()
    # Own topic prefix and consumer group: the workers a test starts run only the jobs this file's tests submit.
    conf = {
        **config_dict,
        "postgres": {**config_dict["postgres"], "dsn": dsn},
        "kafka": {**config_dict["kafka"], "topic_prefix": f"t{session_id}cli."},
        "streams": {**config_dict.get("streams", {}), "app_id": f"wd-streams-{session_id}-cli"},
        # One file at a time: a move lasts long enough to be interrupted mid-way.
        "crawler": {**config_dict.get("crawler", {}), "move_concurrency": 1},
        "api": {
            **config_dict.get("api", {}),
            "listen": f"127.0.0.1:{port}",
            "insecure_no_auth": False,
            "tokens": [
                {"token": ADMIN, "role": "admin", "name": "cli-admin"},
                {"token": VIEWER, "role": "viewer", "name": "cli-viewer"},
            ],
        },
        "backends": [*config_dict["backends"], {"name": "cli", "url": f"file://{data}"}],
    }
    path = d / "warpdrive.toml"
    path.write_text(dump_toml(conf))
    asyncio.run(ensure_topics(load(path).kafka))

    async def migrate_it() -> None:
        conn = await connect_and_migrate(load(path))
        await conn.close()

    asyncio.run(migrate_it())
    try:
        yield CliStack(path, data, port, dsn)
    finally:
        asyncio.run(drop_database(base, name))


@pytest.fixture(scope="session")
def api_url(cli_stack: CliStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    procs = Procs(cli_stack.config_path, tmp_path_factory.mktemp("cli-api"))
    try:
        proc = procs.start("api", "api", "serve")
        url = f"http://127.0.0.1:{cli_stack.port}"
        wait_until(lambda: _ready(url) or proc.poll() is not None, 60, what="the API to answer /readyz")
        if proc.poll() is not None:
            pytest.fail(f"the API exited with {proc.returncode}:\n{procs.log('api')[-3000:]}")
        yield url
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def workers(cli_stack: CliStack, api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Procs]:
    """The real job runners behind the API: stream workers (fold job events, index listings) and a crawler.

    One set per module: joining their Kafka groups takes seconds, and the tests' prefixes never overlap.
    """
    procs = Procs(cli_stack.config_path, tmp_path_factory.mktemp("cli-workers"))
    try:
        procs.start("streams", "streams", "worker")
        procs.start("crawler", "crawler", "run", "--no-schedule")
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def db(cli_stack: CliStack) -> Db:
    d = Db(cli_stack.dsn)
    d.execute(f"TRUNCATE {', '.join(TABLES)}")
    return d


Ctl = Callable[..., Result]


@pytest.fixture
def ctl(api_url: str) -> Ctl:
    """Runs warpdrive-ctl against the real API: ``ctl("usage", "--group-by", "team", token=VIEWER)``."""

    def run(*args: str, token: str | None = ADMIN, input: str | None = None) -> Result:
        base = ["--control-plane", api_url] + (["--token", token] if token else [])
        return CliRunner().invoke(
            cli, [*base, *args], env={"WARPDRIVE_TOKEN": None, "WARPDRIVE_CONFIG": None}, input=input
        )

    return run
