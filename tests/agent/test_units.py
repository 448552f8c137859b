"""Fast tier: block cache, spool, collector sampling and coalescing, in process (no services)."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import pytest

import orjson

from warpdrive.agent.cache import BlockCache
from warpdrive.agent.fs import _open_nowait, open_beneath
from warpdrive.agent.sinks import JsonLinesSink
from warpdrive.agent.spool import Spool
from warpdrive.agent.telemetry import Collector, Timestamps, Window
from warpdrive.schemas.config import AgentSettings
from warpdrive.schemas.records import AccessEvent, format_ts


class ListSink:
    """A real sink writing to a list (the in-process stand-in for stdout/file)."""

    def __init__(self) -> None:
        self.batches: list[list[AccessEvent]] = []

    def send(self, batch: list[AccessEvent]) -> None:
        self.batches.append(list(batch))

    def idle(self) -> None:
        pass

    def close(self) -> None:
        pass

    def stats(self) -> dict:
        return {}

    @property
    def events(self) -> list[AccessEvent]:
        return [e for b in self.batches for e in b]


def _object(data: bytes):
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        calls.append((start, end))
        return data[start:end]

    return fetch, calls


def test_cache_serves_ranges_and_counts_hits(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    cache = BlockCache(tmp_path / "c", max_bytes=1 << 20, block_size=1024)
    fetch, calls = _object(data)
    out, hit = cache.read("s3", "a", "v1", len(data), 1000, 3000, fetch, {})
    assert out == data[1000:4000] and not hit and len(calls) == 4
    out, hit = cache.read("s3", "a", "v1", len(data), 1500, 2000, fetch, {})
    assert out == data[1500:3500] and hit and len(calls) == 4
    assert cache.read("s3", "a", "v1", len(data), 9990, 100, fetch, {}) == (data[9990:], False)
    assert cache.read("s3", "a", "v1", len(data), 20_000, 100, fetch, {}) == (b"", True)


def test_a_new_version_is_never_served_from_old_blocks(tmp_path: Path) -> None:
    cache = BlockCache(tmp_path / "c", max_bytes=1 << 20, block_size=1024)
    old, new = os.urandom(4096), os.urandom(4096)
    cache.read("gcs", "f", "gen1", 4096, 0, 4096, _object(old)[0], {})
    fetch, calls = _object(new)
    out, hit = cache.read("gcs", "f", "gen2", 4096, 0, 4096, fetch, {})
    assert out == new and not hit and calls


def test_cache_evicts_least_recently_used_and_survives_restart(tmp_path: Path) -> None:
    cache = BlockCache(tmp_path / "c", max_bytes=4096, block_size=1024)
    blobs = {name: os.urandom(2048) for name in "abc"}
    for name in "ab":
        cache.read("s3", name, "v", 2048, 0, 2048, _object(blobs[name])[0], {})
    cache.read("s3", "a", "v", 2048, 0, 2048, _object(blobs["a"])[0], {})  # a is now the most recent
    cache.read("s3", "c", "v", 2048, 0, 2048, _object(blobs["c"])[0], {})
    assert cache.bytes <= 4096
    again = BlockCache(tmp_path / "c", max_bytes=4096, block_size=1024)
    assert again.bytes == cache.bytes
    for name, evicted in (("a", False), ("c", False), ("b", True)):
        fetch, calls = _object(blobs[name])
        assert again.read("s3", name, "v", 2048, 0, 2048, fetch, {})[0] == blobs[name]
        assert bool(calls) == evicted, name


def test_spool_keeps_order_bounds_size_and_survives_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=100)
    assert spool.append(b"x" * 40, 4) and spool.append(b"y" * 40, 4)
    assert not spool.append(b"z" * 40, 7) and spool.dropped == 7
    again = Spool(tmp_path / "s", max_bytes=100)
    assert again.pending == 2 and again.bytes == 80
    path, payload = again.oldest()  # type: ignore[misc]
    assert payload == b"x" * 40
    again.remove(path)
    assert again.append(b"w" * 10, 1)
    assert [again.oldest()[1]] == [b"y" * 40]  # type: ignore[index]
    assert sorted(p.read_bytes() for p in (tmp_path / "s").glob("*.batch")) == [b"w" * 10, b"y" * 40]


def _collector(**settings) -> tuple[Collector, ListSink]:
    sink = ListSink()
    return Collector("n1", AgentSettings(**settings), sink), sink


def test_metadata_sampling_rate_holds_and_weights_keep_counts_estimable() -> None:
    c, sink = _collector(sample_metadata_ops=0.1, flush_interval=0.05, queue_size=1_000_000)
    c.start()
    n = 20_000
    for i in range(n):
        if c.sampled():
            c.record("stat", "alice", 0, "s3", f"f{i}", weight=c.metadata_weight)
    c.stop()
    events = sink.events
    # Binomial(20000, 0.1): mean 2000, sd 42; ±5 sd.
    assert 1790 < len(events) < 2210
    assert all(e.weight == pytest.approx(10.0) for e in events)
    assert abs(sum(e.weight * e.count for e in events) - n) < 0.11 * n
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids) and all(i.startswith(f"n1/{c.boot_id}/") for i in ids)


def test_record_never_blocks_and_counts_drops() -> None:
    c, sink = _collector(queue_size=10)  # the drainer is not started: the queue only fills
    for _ in range(25):
        c.record("read", "alice", 0, "s3", "f")
    assert c.recorded == 10 and c.dropped == 15
    c.start()
    c.stop()
    assert len(sink.events) == 10


def test_windows_coalesce_and_never_straddle_a_day() -> None:
    c, sink = _collector(batch_size=1000)
    w = Window()
    t = 1_800_000_000.0
    for i in range(100):
        w.add(128 * 1024, i % 2 == 0, 1.0 + i, t + i * 0.001)
    assert not w.due(t + 1, 5.0) and w.due(t + 5.01, 5.0)
    c.record_window("read", "alice", 0, "s3", "big", w)
    c.start()
    c.stop()
    (e,) = sink.events
    assert (e.count, e.bytes_read, e.cache_hits, e.cache_hit) == (100, 100 * 128 * 1024, 50, False)
    assert e.latency_max_ms == 100.0 and e.latency_ms == pytest.approx(50.5)
    midnight = 86400.0 * 20000
    w2 = Window()
    w2.add(1, False, 1.0, midnight - 0.5)
    assert w2.due(midnight + 0.1, 5.0)  # a new UTC day closes the window early
    assert dataclasses.asdict(e)["first_timestamp"] < e.timestamp


def test_quota_levels_per_backend_and_for_all_backends() -> None:
    from warpdrive.agent.quota import Quotas
    from warpdrive.schemas.records import QuotaBreach, TeamMembership, encode

    q = Quotas()
    for user, team in (("alice", "vision"), ("bob", "nlp")):
        q.receive("members", user.encode(), encode(TeamMembership(user, [team], "2026-11-25T00:00:00Z")), "members")
    q.apply(QuotaBreach("vision", "s3", "hard", "soft", 9, 5, 8, "2026-11-25T00:00:00Z"))
    assert q.blocked("alice", "s3") and not q.blocked("alice", "gcs") and not q.blocked("bob", "s3")
    assert not q.blocked("carol", "s3")  # in no team: no team quota applies
    q.membership("carol", ["other", "vision"])  # added live: blocked by any of her teams
    assert q.blocked("carol", "s3")
    q.receive("members", b"carol", None, "members")  # a tombstone: in no team any more
    assert not q.blocked("carol", "s3") and q.teams_of("carol") == frozenset()
    q.apply(QuotaBreach("vision", "s3", "soft", "hard", 6, 5, 8, "2026-11-25T00:00:01Z"))
    assert not q.blocked("alice", "s3")
    q.apply(QuotaBreach("nlp", None, "hard", "ok", 9, 5, 8, "2026-11-25T00:00:02Z"))
    assert q.blocked("bob", "local") and q.blocked("bob", "gcs")
    q.receive("state", b"nlp/*", None, "members")  # a tombstone: the quota was deleted
    assert not q.blocked("bob", "gcs")
    q.receive("state", b"x/*", b"{not json", "members")  # logged and skipped
    assert q.levels == {("vision", "s3"): "soft"}


def test_fast_timestamps_equal_the_records_format() -> None:
    ts, rnd = Timestamps(), random.Random(3)
    samples = [rnd.uniform(0, 4e9) for _ in range(5000)] + [1.8e9 + rnd.random() * 3 for _ in range(5000)]
    samples += [1_800_000_000.9999996, 86400.0 * 20000 - 1e-7, 0.0]  # rounding into the next second / day
    assert [ts.format(t) for t in samples] == [format_ts(t) for t in samples]


def test_file_sink_writes_every_field_as_json_lines(tmp_path: Path) -> None:
    sink = JsonLinesSink.file(tmp_path / "e.jsonl")
    events = [
        AccessEvent(
            f"n/b/{i}",
            "2026-11-25T00:00:00.000000Z",
            "alice",
            "s3",
            f"p/{i}",
            "read",
            "n",
            seq=i,
            bytes_read=i * 10,
            first_timestamp="2026-11-24T23:59:59.000000Z",
            uid=0,
        )
        for i in range(3)
    ]
    sink.send(events)
    sink.close()
    lines = (tmp_path / "e.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [dataclasses.asdict(e) for e in events]


def test_cached_open_opens_inline_or_declines(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"inline")
    f.stat()  # the dentry is now cached
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    fd = _open_nowait(root, "f")
    assert fd is not None, "openat2(RESOLVE_CACHED) should open a cached path inline on Linux >= 5.12"
    try:
        assert os.pread(fd, 100, 0) == b"inline" and not os.get_inheritable(fd)
        with pytest.raises(OSError):
            os.write(fd, b"x")  # read-only
    finally:
        os.close(fd)
    assert _open_nowait(root, "missing") is None  # the slow path reports the real error
    os.symlink("/etc/hostname", tmp_path / "out")
    assert _open_nowait(root, "out") is None  # outside the root: never opened
    with pytest.raises(PermissionError):
        open_beneath(root, "out", os.O_RDONLY)
    os.close(root)
