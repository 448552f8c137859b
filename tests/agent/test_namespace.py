"""Fast tier: the mount's inode map and the backend's bounded metadata caches, in process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyfuse3
import trio

from warpdrive.agent.backend import Backend, Lru
from warpdrive.schemas.config import BackendConfig


def test_directory_rename_moves_every_descendant_and_detaches_the_target() -> None:
    from warpdrive.agent.fs import Inodes

    ino = Inodes()
    sd, child, leaf, other = (ino.inode(("b", p)) for p in ("sd", "sd/child", "sd/deep/leaf", "sdx/f"))
    replaced = ino.inode(("b", "sd2"))
    ino.move(("b", "sd"), ("b", "sd2"), is_dir=True)
    assert ino.current(sd) == ("b", "sd2")
    assert ino.current(child) == ("b", "sd2/child") and ino.current(leaf) == ("b", "sd2/deep/leaf")
    assert ino.current(other) == ("b", "sdx/f")  # a sibling sharing the prefix is not a descendant
    assert ino.current(replaced) is None and ino.key(replaced) == ("b", "sd2")  # detached, last key kept
    assert ino.find(("b", "sd/child")) is None
    assert ino.inode(("b", "sd/child")) not in (sd, child, leaf)  # a new file at the old path: a new inode
    ino.looked_up(child)
    ino.detach(("b", "sd2/child"))
    assert ino.current(child) is None and ino.find(("b", "sd2/child")) is None
    ino.forget(child, 1)
    try:
        ino.key(child)
        raise AssertionError("a forgotten inode must be stale")
    except pyfuse3.FUSEError as e:
        assert e.errno == 116  # ESTALE


def test_lru_is_bounded_and_expired_entries_go() -> None:
    lru: Lru[int | None] = Lru(3)
    now = time.monotonic()
    for i in range(10):
        lru.put(f"missing-{i}", now + 60, None)
    assert len(lru) == 3 and list(lru) == ["missing-7", "missing-8", "missing-9"]
    lru.fresh("missing-7")  # used: now the newest
    lru.put("x", now + 60, 1)
    assert "missing-8" not in lru and "missing-7" in lru
    lru.put("old", now - 1, None)
    assert lru.fresh("old") is None and "old" not in lru


def test_backend_metadata_cache_stays_bounded_over_many_missing_names(tmp_path: Path) -> None:
    (tmp_path / "here").write_bytes(b"1")
    b = Backend(
        BackendConfig("local", f"file://{tmp_path}"), trio.CapacityLimiter(4), ttl=60, timeout=5, max_entries=50
    )

    async def probe() -> None:
        for i in range(500):
            try:
                await b.stat(f"nope-{i}")
            except FileNotFoundError:
                pass
        assert (await b.stat("here")).size == 1

    trio.run(probe)
    assert len(b._stats) == 50 and b.cached_stat("here") is not False


def test_backend_calls_past_the_deadline_time_out(tmp_path: Path) -> None:
    b = Backend(BackendConfig("local", f"file://{tmp_path}"), trio.CapacityLimiter(4), ttl=1, timeout=0.2)
    release = threading.Event()

    async def hang() -> None:
        await b.call(release.wait, 60)

    try:
        trio.run(hang)
        raise AssertionError("a hung call must time out")
    except TimeoutError as e:
        assert "did not answer within 0.2 s" in str(e)
        assert not release.is_set()  # the caller was answered while the call still hung
    finally:
        release.set()
