"""Helpers of the CLI tests: tokens, direct database access, result checks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import asyncpg
from click.testing import Result

from warpdrive.schemas.storage import open_fs, root_path
from warpdrive.schemas.config import load

ADMIN = "cli-admin-token-0123456789"
VIEWER = "cli-viewer-token-0123456789"


class Db:
    """Direct access to the session database, to set up states the stream workers would produce."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def _run(self, fn: Callable[[asyncpg.Connection], Any]) -> Any:
        conn = await asyncpg.connect(self.dsn, server_settings={"timezone": "UTC"})
        try:
            return await fn(conn)
        finally:
            await conn.close()

    def execute(self, sql: str, *args: Any) -> None:
        asyncio.run(self._run(lambda c: c.execute(sql, *args)))

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        asyncio.run(self._run(lambda c: c.executemany(sql, rows)))

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return asyncio.run(self._run(lambda c: c.fetch(sql, *args)))


def ok(r: Result) -> str:
    """The stdout of a successful run, or a failure showing what went wrong."""
    assert r.exit_code == 0, f"exit {r.exit_code}: {r.stderr or r.output}"
    return r.stdout


def notes(r: Result) -> str:
    """The notes of a successful table run (totals, paging, caveats): on stderr, so stdout stays the table."""
    ok(r)
    return r.stderr


def one_line_error(r: Result, code: int = 1) -> str:
    assert r.exit_code == code, f"exit {r.exit_code}: {r.output}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def put_files(fs: Any, root: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        with fs.open(f"{root}/{rel}", "wb") as f:
            f.write(data)


def read_files(fs: Any, root: str) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, read back from the store itself."""
    found = fs.find(root) if fs.exists(root) else []
    return {p[len(root) + 1 :]: fs.cat_file(p) for p in found}


def object_stores(config_path: Path, *names: str) -> list[tuple[Any, str]]:
    """(fs, root) of the named backends (default: s3 and gcs); their buckets are created when the stack is fresh."""
    cfg = load(config_path)
    out = []
    for backend in (cfg.backend(n) for n in names or ("s3", "gcs")):
        fs, root = open_fs(backend), root_path(backend)
        bucket = root.split("/")[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        out.append((fs, root))
    return out
