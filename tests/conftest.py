"""Session fixtures that start the real services (Kafka, PostgreSQL, S3 server, GCS emulator, Azurite).

By default a session starts its own stack on free ports in a temporary state dir and stops it at
the end, even when tests fail. ``WARPDRIVE_TEST_STACK=<state dir>`` reuses a stack already running
there (`warpdrive stack up --infra-only --state-dir …`), which makes a local edit-test loop fast.
Either way each session gets its own database and topic prefix, so concurrent sessions never meet.
A service that cannot start fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Generator, Iterator

import pytest

from warpdrive.compose.ledger import ENV as LEDGER_ENV
from warpdrive.compose.ledger import Ledger
from warpdrive.compose.stack import Ports, Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.db import create_database, drop_database

from tests.helpers import Procs, remove_stack, stack_logs


# The session's own ledger when no runner gave one (a bare `pytest`): reaped when the session ends.
OWN_LEDGER = pytest.StashKey[Path]()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Everything this session starts (stacks, processes, mounts) is recorded in a ledger, so that it and
    only it is stopped by id — by the fixtures, by the reap below, or by `compose/dev.sh`'s exit trap
    (`warpdrive stack reap`) when the session itself was killed. SIGTERM is turned into an interrupt so
    the fixtures' own clean-up runs."""
    if not os.environ.get(LEDGER_ENV):
        own = Path(tempfile.mkdtemp(prefix="wdr-"))
        os.environ[LEDGER_ENV] = str(own)
        config.stash[OWN_LEDGER] = own
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(OWN_LEDGER, None)
    if own is not None:
        for line in Ledger(own).reap():
            print(f"reaped what a test left running: {line}", file=sys.stderr)
        shutil.rmtree(own, ignore_errors=True)
        os.environ.pop(LEDGER_ENV, None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reuse = os.environ.get("WARPDRIVE_TEST_STACK")
    if reuse:
        st = Stack(Path(reuse))
        missing = [
            n for n, s in st.status().items() if n in ("postgres", "kafka", "s3", "gcs", "azure") and not s["running"]
        ]
        if missing:
            pytest.fail(f"WARPDRIVE_TEST_STACK={reuse}: not running: {', '.join(missing)}")
        yield st
        return
    # Short path: PostgreSQL's unix socket path must stay under 107 bytes.
    state = Path(f"/tmp/wdt-{os.getpid()}")
    st = Stack(state, Ports.free(), progress=lambda m: print(m, file=sys.stderr))
    try:
        try:
            st.infra_up()
        except BaseException:
            print(stack_logs(state), file=sys.stderr)  # the state dir goes below: say why first
            raise
        yield st
    finally:
        # The logs outlive the state dir in pytest's own temp dir (it keeps the last few runs' ones).
        remove_stack(st, keep_logs=tmp_path_factory.getbasetemp() / "stack-logs")


# The private stacks a test started, for its failure report.
PRIVATE_STACKS = pytest.StashKey[list[Stack]]()


@pytest.fixture
def private_stack(request: pytest.FixtureRequest) -> Iterator[Callable[..., Stack]]:
    """Starts PRIVATE stacks, for tests that stop or kill services (never the shared stack):
    ``st = private_stack(("postgres", "kafka"))``. Free ports, a short state dir under /tmp (PostgreSQL's
    socket path limit); each is stopped and its state dir removed when the test ends. A failing test's
    report shows the end of every service log, read before the removal."""
    started = request.node.stash.setdefault(PRIVATE_STACKS, [])

    def start(services: tuple[str, ...] = ("postgres", "kafka")) -> Stack:
        st = Stack(Path(f"/tmp/wdk-{uuid.uuid4().hex[:8]}"), Ports.free())
        started.append(st)
        st.infra_up(services)
        return st

    try:
        yield start
    finally:
        for st in started:
            remove_stack(st)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when != "teardown":  # before the teardown removes the logs
        for st in item.stash.get(PRIVATE_STACKS, []):
            report.sections.append((f"service logs of private stack {st.state_dir}", stack_logs(st.state_dir)))
    return report


@pytest.fixture(scope="session")
def session_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def pg_dsn(stack: Stack, session_id: str) -> Iterator[str]:
    """A fresh database for this session on the stack's PostgreSQL, migrated."""
    base = stack.postgres_dsn()
    name = f"wdtest_{session_id}"
    dsn = asyncio.run(create_database(base, name))
    yield dsn
    asyncio.run(drop_database(base, name))


@pytest.fixture(scope="session")
def config_dict(stack: Stack, pg_dsn: str, session_id: str) -> dict:
    """The stack's generated config, isolated: own database, own topic prefix."""
    return stack.config_dict(
        {
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "topic_prefix": f"t{session_id}."},
            "postgres": {"dsn": pg_dsn},
            "streams": {"app_id": f"wd-streams-{session_id}", "batch_within": 0.2},
        }
    )


@pytest.fixture(scope="session")
def config_path(config_dict: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("config") / "warpdrive.toml"
    p.write_text(dump_toml(config_dict))
    return p


@pytest.fixture(scope="session")
def cfg(config_path: Path) -> wconfig.Config:
    """The loaded session config; its topics exist and its database is migrated."""
    from warpdrive.schemas.db import connect_and_migrate
    from warpdrive.schemas.topics import ensure_topics

    c = wconfig.load(config_path)

    async def prepare() -> None:
        await ensure_topics(c.kafka)
        conn = await connect_and_migrate(c)
        await conn.close()

    asyncio.run(prepare())
    return c


@pytest.fixture
def procs(config_path: Path, tmp_path: Path) -> Iterator[Procs]:
    ps = Procs(config_path, tmp_path)
    try:
        yield ps
    finally:
        ps.stop_all()
