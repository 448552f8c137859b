"""Helpers for tests: component processes and polling."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

from warpdrive.compose.ledger import Ledger
from warpdrive.compose.stack import Stack

T = TypeVar("T")


class Procs:
    """Component processes started by a test; all are stopped when the test ends."""

    def __init__(self, config_path: Path, log_dir: Path) -> None:
        self.config_path = config_path
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        p = subprocess.Popen(
            [str(Path(sys.executable).with_name("warpdrive")), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "WARPDRIVE_CONFIG": str(self.config_path), **(env or {})},
        )
        log.close()
        if ledger := Ledger.current():  # stopped by the run's reaper even if this session is killed
            ledger.process(p.pid)
        self.procs[name] = p
        return p

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def tail(self, name: str, lines: int = 40) -> str:
        """The end of a process's log, for failure messages."""
        return f"\n--- last lines of {name}.log ---\n" + "\n".join(self.log(name).splitlines()[-lines:])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name)
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


def wait_until(
    check: Callable[[], object],
    timeout: float = 60.0,
    interval: float = 0.2,
    what: str = "condition",
    explain: Callable[[], str] = lambda: "",
) -> object:
    """Polls ``check`` until it returns a truthy value; fails the test with ``what`` (and ``explain()``,
    e.g. a process log) on time-out."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}){explain()}")


def service_logs(state_dir: Path) -> list[Path]:
    """The service logs of a stack's state dir: Kafka, S3, GCS (``logs/``) and PostgreSQL (``pg/log``)."""
    return sorted((state_dir / "logs").glob("*.log")) + [p for p in (state_dir / "pg" / "log",) if p.is_file()]


def stack_logs(state_dir: Path, lines: int = 40) -> str:
    """The end of every service log of a stack, for failure reports."""
    return "".join(
        f"\n--- last lines of {p} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
        for p in service_logs(state_dir)
    )


def remove_stack(st: Stack, keep_logs: Path | None = None) -> None:
    """Stops a stack this test session started and deletes its state dir (tens of MB each), after copying
    its service logs to ``keep_logs`` if given."""
    try:
        st.down()
    finally:
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in service_logs(st.state_dir):
                shutil.copy(log, keep_logs / ("postgres.log" if log.name == "log" else log.name))
        shutil.rmtree(st.state_dir, ignore_errors=True)


def read_terminal(master: int) -> bytes:
    """Everything a child wrote to a pty until it closed the terminal; closes ``master``."""
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return out


@contextlib.contextmanager
def scratch_database(stack: Stack, prefix: str) -> Iterator[str]:
    """A new, empty database on the stack's PostgreSQL for one test: its DSN, dropped afterwards."""
    import asyncio
    import uuid

    from warpdrive.schemas import db

    base, name = stack.postgres_dsn(), f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = asyncio.run(db.create_database(base, name))
    try:
        yield dsn
    finally:
        asyncio.run(db.drop_database(base, name))


def on_connection(dsn: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    """``await fn(conn)`` on a connection of its own to ``dsn``, from synchronous test code."""
    import asyncio

    import asyncpg

    async def go() -> T:
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


def ready_config(path: Path, raw: dict[str, Any]) -> Any:  # -> warpdrive.schemas.config.Config
    """Writes ``raw`` as the config file ``path``, creates its topics and migrates its database: what a
    test's own worker, API or crawler processes need before they start. Returns the loaded config."""
    import asyncio

    from warpdrive.schemas import config as wconfig
    from warpdrive.schemas.db import connect_and_migrate
    from warpdrive.schemas.topics import ensure_topics

    path.write_text(wconfig.dump_toml(raw))
    cfg = wconfig.load(path)

    async def prepare() -> None:
        await ensure_topics(cfg.kafka)
        await (await connect_and_migrate(cfg)).close()

    asyncio.run(prepare())
    return cfg


def table_contents(
    dsn: str, exclude_columns: dict[str, set[str]] | None = None, columns: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    """Every table of the database (public schema; the schema_migrations bookkeeping aside) as its rows, each a JSON
    text, sorted. ``columns`` keeps only those columns per table (e.g. the ones it had before an upgrade) and only
    those tables; ``exclude_columns`` leaves some out."""
    import asyncio

    import asyncpg
    import orjson

    async def run() -> dict[str, list[str]]:
        conn = await asyncpg.connect(dsn)
        try:
            tables = [
                r["relname"]
                for r in await conn.fetch(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
                    " AND c.relname <> 'schema_migrations' ORDER BY 1"
                )
            ]
            out = {}
            for t in tables:
                if columns is not None and t not in columns:
                    continue
                drop = (exclude_columns or {}).get(t, set())
                rows = []
                for (doc,) in await conn.fetch(f'SELECT to_jsonb(t)::text FROM "{t}" t'):
                    row = orjson.loads(doc)
                    keep = {k: v for k, v in row.items() if k not in drop and (columns is None or k in columns[t])}
                    rows.append(orjson.dumps(keep, option=orjson.OPT_SORT_KEYS).decode())
                out[t] = sorted(rows)
            return out
        finally:
            await conn.close()

    return asyncio.run(run())


def scrape(url: str) -> dict[str, float]:
    """A /metrics page parsed as Prometheus text (the parser fails on anything else): every sample as
    ``name{label="value",…}`` (labels sorted) → value."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def metric_sum(samples: dict[str, float], name: str, /, **labels: str) -> float:
    """The sum of a series' samples whose labels include ``labels``."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in samples.items() if (k == name or k.startswith(name + "{")) and all(w in k for w in want))


async def rebuild_rollups(conn: Any, depths: dict[str, int] | None = None, tree: bool = True) -> None:
    """The rollups of the files' places and activity — the tree (tree_dirs, tree_teams, tree_activity, tree_inactive;
    unless ``tree`` is False) and the owners' activity weeks (owner_inactive) — rebuilt from the live files of
    ``storage_files`` by the stream workers' own code (streams/tree.py, streams/owner_inactive.py), for tests that set
    files up directly: the state the workers would leave. ``depths``: backend → max_tree_depth (default: every
    level)."""
    from warpdrive.streams.owner_inactive import write_owner_inactive
    from warpdrive.streams.tree import TreeDeltas, write_tree

    t = TreeDeltas(depths or {})
    for r in await conn.fetch(
        "SELECT backend_name, path, owner_team, owner_user, last_access, last_modified, size_bytes"
        " FROM storage_files WHERE deleted_at IS NULL"
    ):
        t.add_parts(
            r["backend_name"],
            r["path"],
            r["owner_team"],
            r["owner_user"],
            r["last_access"],
            r["last_modified"],
            1,
            r["size_bytes"],
        )
    async with conn.transaction():
        if tree:
            await conn.execute("TRUNCATE tree_dirs, tree_teams, tree_activity, tree_inactive")
            await write_tree(conn, t, 0)
        await conn.execute("TRUNCATE owner_inactive")
        await write_owner_inactive(conn, t, 0)


def rollups_from_files(dsn: str, depths: dict[str, int] | None = None) -> None:
    """``rebuild_rollups`` from synchronous test code."""
    on_connection(dsn, lambda conn: rebuild_rollups(conn, depths))
