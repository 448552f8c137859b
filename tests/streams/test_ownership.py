"""Ownership: rule > creator through a mount > POSIX owner > unowned; reown commands; usage deltas."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import (
    crawl,
    live_files,
    produce_batches,
    query,
    tree,
    tree_recomputed,
    usage,
    usage_recomputed,
)
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, Command, format_ts, utc_now
from warpdrive.schemas.topics import ACCESS, COMMANDS

pytestmark = pytest.mark.services


def _event(user: str, path: str, op: str, ts: str) -> AccessEvent:
    return AccessEvent(
        event_id=uuid.uuid4().hex,
        timestamp=ts,
        user_id=user,
        backend_name="own",
        path=path,
        operation=op,
        node_host="n1",
        bytes_written=10 if op == "write" else 0,
    )


def _reown(cfg: Config, **args: str) -> None:
    produce_batches(cfg, COMMANDS, [[Command(uuid.uuid4().hex, "reown", utc_now(), args=dict(args))]], "target")


def test_owner_precedence_and_reown(cfg: Config, procs: Procs) -> None:
    dsn, b = cfg.postgres.dsn, "own"
    query(dsn, "INSERT INTO teams VALUES ('cara', 'vision'), ('dan', 'nlp') ON CONFLICT DO NOTHING")
    t_create, t_write = "2026-11-21T10:00:00.000000Z", "2026-11-22T11:30:00.500000Z"
    # dan creates proj/x.bin through a mount before any crawl has seen it.
    produce_batches(cfg, ACCESS, [[_event("dan", "proj/x.bin", "create", t_create)]], "node_host")
    procs.start("streams", "streams", "worker")
    crawl(
        cfg,
        "o1",
        b,
        {
            "proj/x.bin": {"size_bytes": 10, "owner_user": "cara"},
            "proj/y.bin": {"size_bytes": 20, "owner_uid": 5},
            "other/z.bin": {"size_bytes": 30, "owner_user": "dan"},
            "shared/s.bin": {"size_bytes": 40},
        },
    )
    # cara writes proj/y.bin after the crawl: she becomes its creator, so its owner.
    produce_batches(cfg, ACCESS, [[_event("cara", "proj/y.bin", "write", t_write)]], "node_host")
    expected = {
        "proj/x.bin": (10, "nlp", "dan", "creator"),
        "proj/y.bin": (20, "vision", "cara", "creator"),
        "other/z.bin": (30, "nlp", "dan", "posix"),
        "shared/s.bin": (40, "unowned", None, "none"),
    }
    wait_until(lambda: live_files(dsn, b) == expected, 30, what="owners after crawl and access")
    assert usage(dsn, b) == usage_recomputed(dsn, b)
    assert tree(dsn, b) == tree_recomputed(dsn, b)
    (y,) = query(dsn, "SELECT last_access FROM storage_files WHERE backend_name = $1 AND path = 'proj/y.bin'", b)
    assert format_ts(y["last_access"]) == t_write

    # Rules, as the API writes them, then announced: the longest prefix wins over creators.
    query(
        dsn,
        "INSERT INTO ownership_rules (backend_name, path_prefix, team_name, user_id) VALUES"
        " ('own', 'shared', 'vision', NULL), ('own', 'proj', 'research', 'lead'), ('own', '', 'ops', NULL),"
        " ('own', 'proj/y', 'never', NULL)",
    )  # 'proj/y' is not a directory of proj/y.bin
    _reown(cfg, backend=b)
    expected = {
        "proj/x.bin": (10, "research", "lead", "rule"),
        "proj/y.bin": (20, "research", "lead", "rule"),
        "other/z.bin": (30, "ops", None, "rule"),
        "shared/s.bin": (40, "vision", None, "rule"),
    }
    wait_until(lambda: live_files(dsn, b) == expected, 30, what="owners after the rules")
    assert usage(dsn, b) == usage_recomputed(dsn, b)
    assert tree(dsn, b) == tree_recomputed(dsn, b)

    # The catch-all rule goes and dan moves team: a bare reown recomputes everything.
    query(dsn, "DELETE FROM ownership_rules WHERE backend_name = 'own' AND path_prefix = ''")
    query(dsn, "UPDATE teams SET team_name = 'infra' WHERE user_id = 'dan'")
    _reown(cfg)
    expected["other/z.bin"] = (30, "infra", "dan", "posix")
    wait_until(lambda: live_files(dsn, b) == expected, 30, what="owners after the team change")
    assert usage(dsn, b) == usage_recomputed(dsn, b)
    assert tree(dsn, b) == tree_recomputed(dsn, b)
    assert "Traceback" not in procs.log("streams")
