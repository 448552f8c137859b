"""`warpdrive crawler run`: the published listing equals each backend's real listing, crawls are
bracketed by markers, errors make a crawl partial, and two crawls of one backend never overlap."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
import uuid
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from warpdrive.schemas.locks import CRAWL_LOCK
from warpdrive.schemas.records import CrawlMarker, ListingEvent, parse_ts
from warpdrive.schemas.topics import LISTING

from tests.crawler.conftest import KINDS, Env, read_topic, topic_end
from tests.helpers import read_terminal, wait_until

pytestmark = pytest.mark.services

WARPDRIVE = str(Path(sys.executable).with_name("warpdrive"))

TREE: dict[str, bytes] = {
    "a.txt": b"alpha",
    "empty.bin": b"",
    "dir one/b c.txt": b"with spaces",
    "dir one/sub/\u00fc-\u00f1.dat": "unicode".encode() * 3,
    "d1/d2/d3/d4/deep.bin": bytes(range(256)) * 12,
    **{f"many/f{i:03}.dat": b"x" * (i * 7) for i in range(40)},
    **{f"wide/p{i:02}/leaf.txt": f"leaf {i}".encode() for i in range(12)},
}


def populate(env: Env, name: str, tree: dict[str, bytes] = TREE) -> None:
    for rel, data in tree.items():
        env.put(name, rel, data)


def run_cli(
    env: Env, *args: str, extra_env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [WARPDRIVE, "crawler", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WARPDRIVE_CONFIG": str(env.config_path), **(extra_env or {})},
    )
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def crawl_ids(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\S+): \w+, .*\(crawl (\S+)\)$", output, re.M))


def records_of(env: Env, crawl_id: str) -> tuple[list[CrawlMarker], list[ListingEvent]]:
    recs = [(k, r) for k, r in read_topic(env.cfg, LISTING) if r.crawl_id == crawl_id]
    assert all(k == recs[0][1].backend_name.encode() for k, _ in recs), "listing messages are keyed by backend"
    markers = [r for _, r in recs if isinstance(r, CrawlMarker)]
    return markers, [r for _, r in recs if isinstance(r, ListingEvent)]


def truncate_us(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def ground_truth(env: Env, name: str) -> dict[str, tuple[Any, ...]]:
    """The backend's real listing, read independently of the crawler: os.walk + stat, or fsspec find."""
    root = env.roots[name]
    out: dict[str, tuple[Any, ...]] = {}
    if name == "local":
        for d, _, files in os.walk(root):
            for f in files:
                st = os.stat(os.path.join(d, f), follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    continue  # symlinks are not files of this backend
                rel = os.path.relpath(os.path.join(d, f), root)
                out[rel] = (
                    st.st_size,
                    truncate_us(st.st_mtime_ns),
                    None,
                    st.st_uid,
                    st.st_gid,
                    truncate_us(st.st_atime_ns),
                )
        return out
    fs = env.fs(name)
    fs.invalidate_cache()
    for path, info in fs.find(root, detail=True).items():
        rel = path[len(root) + 1 :]
        if name == "s3":
            out[rel] = (info["size"], info["LastModified"].astimezone(UTC), info["ETag"].strip('"'))
        elif name == "azure":
            out[rel] = (
                info["size"],
                info["last_modified"].astimezone(UTC),
                bytes(info["content_settings"]["content_md5"]).hex(),
            )
        else:
            import base64

            out[rel] = (info["size"], parse_ts(info["updated"]), base64.b64decode(info["md5Hash"]).hex())
    return out


def as_truth(name: str, e: ListingEvent) -> tuple[Any, ...]:
    mtime = parse_ts(e.last_modified) if e.last_modified else None
    if name == "local":
        return (e.size_bytes, mtime, e.etag, e.owner_uid, e.owner_gid, parse_ts(e.atime) if e.atime else None)
    return (e.size_bytes, mtime, e.etag)


@pytest.mark.parametrize("name", KINDS)
def test_published_listing_equals_backend(make_env, name: str) -> None:
    env = make_env(crawler={"batch_size": 7, "list_concurrency": 4})
    populate(env, name)
    if name == "local":
        os.symlink("a.txt", os.path.join(env.roots["local"], "link-to-a"))  # not a file: not indexed

    out = run_cli(env, "--once", "--backend", name).stdout
    crawl_id = crawl_ids(out)[name]
    markers, events = records_of(env, crawl_id)

    truth = ground_truth(env, name)
    assert set(truth) == set(TREE)
    assert {e.path: as_truth(name, e) for e in events} == truth
    assert len(events) == len(truth), "each file is published once"
    assert [m.phase for m in markers] == ["start", "finish"]
    finish = markers[1]
    assert (finish.files, finish.bytes, finish.errors, finish.complete) == (
        len(TREE),
        sum(map(len, TREE.values())),
        0,
        True,
    )
    if name == "local":
        import pwd

        assert {e.owner_user for e in events} == {pwd.getpwuid(os.getuid()).pw_name}


def test_crawl_of_a_prefix_lists_only_under_it(make_env) -> None:
    import warpdrive.crawler.crawl as wcrawl
    from warpdrive.crawler.publish import Publisher
    from warpdrive.schemas.db import resolve_dsn

    env = make_env()
    for name in KINDS:
        populate(env, name, {"p/x.txt": b"1", "p/q/y.txt": b"22", "p.txt": b"3", "px/z.txt": b"4", "p/q.txt": b"5"})

    async def run(name: str, prefix: str) -> wcrawl.CrawlResult:
        async with Publisher(env.cfg.kafka) as pub:
            return await wcrawl.crawl(env.cfg, env.cfg.backend(name), pub, resolve_dsn(env.cfg), prefix=prefix)

    def crawl(name: str, prefix: str) -> list[str]:
        r = asyncio.run(run(name, prefix))
        assert r.status == "complete"
        markers, events = records_of(env, r.crawl_id)
        assert [m.prefix for m in markers] == [prefix.strip("/")] * 2
        return sorted(e.path for e in events)

    for name in KINDS:
        assert crawl(name, "p") == ["p/q.txt", "p/q/y.txt", "p/x.txt"], name
        assert crawl(name, "p/q/y.txt") == ["p/q/y.txt"], name
        assert crawl(name, "nothing/here") == [], name


@pytest.mark.parametrize("trash", [".warpdrive-trash", "ops/.trash"])
def test_the_trash_is_never_listed(make_env, trash: str) -> None:
    """Trash is not data (schemas/trash.py): a crawl leaves out ``crawler.trash_prefix`` and everything under it, at
    the root or nested (one listing worker: the nested trash's keys then come in a flat listing of its parent), and
    a crawl of a prefix inside it lists nothing; names that only look alike are data."""
    import warpdrive.crawler.crawl as wcrawl
    from warpdrive.crawler.publish import Publisher
    from warpdrive.schemas.db import resolve_dsn

    env = make_env(crawler={"trash_prefix": trash, "list_concurrency": 1})
    data = {"ops/a.txt": b"a", f"{trash}2/b.txt": b"b", f"x/{trash}/c.txt": b"c", "ops/q/d.txt": b"d"}
    for name in KINDS:
        populate(env, name, {**data, f"{trash}/20260101T000000Z-j1/ops/a.txt": b"t", f"{trash}/z.txt": b"z"})

    async def run(name: str, prefix: str) -> wcrawl.CrawlResult:
        async with Publisher(env.cfg.kafka) as pub:
            return await wcrawl.crawl(env.cfg, env.cfg.backend(name), pub, resolve_dsn(env.cfg), prefix=prefix)

    def crawl(name: str, prefix: str) -> list[str]:
        r = asyncio.run(run(name, prefix))
        assert r.status == "complete"
        return sorted(e.path for e in records_of(env, r.crawl_id)[1])

    for name in KINDS:
        assert crawl(name, "") == sorted(data), name
        assert crawl(name, trash) == [] and crawl(name, f"{trash}/20260101T000000Z-j1") == [], name
        assert crawl(name, f"{trash}2") == [f"{trash}2/b.txt"], name


def make_too_deep(base: str, file_data: bytes) -> str:
    """A directory chain whose full path exceeds PATH_MAX, built with dir fds: listing it by path
    fails (ENAMETOOLONG) even for root, a real unlistable directory without changing privileges."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    name = "deep" + "d" * 240
    for _ in range(18):
        os.mkdir(name, dir_fd=fd)
        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    wfd = os.open("hidden.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(wfd, file_data)
    os.close(wfd)
    os.close(fd)
    return name


def test_unlistable_directory_makes_the_crawl_partial(make_env) -> None:
    env = make_env()
    populate(env, "local", {"ok/a.txt": b"a", "z.txt": b"z"})
    make_too_deep(env.roots["local"], b"h")

    p = run_cli(env, "--once", "--backend", "local", check=False)
    assert p.returncode == 1, p.stderr
    assert "local: partial (1 listing errors" in p.stderr and "File name too long" in p.stderr
    assert "Traceback" not in p.stderr
    markers, events = records_of(env, crawl_ids(p.stdout)["local"])
    assert sorted(e.path for e in events) == ["ok/a.txt", "z.txt"], "the rest of the tree is still listed"
    assert markers[-1].phase == "finish" and markers[-1].errors == 1 and markers[-1].complete is False


def test_a_second_crawl_of_the_same_backend_does_not_start(make_env) -> None:
    env = make_env()
    populate(env, "local", {"a.txt": b"a"})
    from warpdrive.schemas.db import resolve_dsn

    async def run_while_locked() -> subprocess.CompletedProcess[str]:
        conn = await asyncpg.connect(resolve_dsn(env.cfg))
        try:
            assert await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", CRAWL_LOCK, "local")
            return await asyncio.to_thread(run_cli, env, "--once", "--backend", "local", check=False)
        finally:
            await conn.close()

    before = topic_end(env.cfg, LISTING)
    p = asyncio.run(run_while_locked())
    assert p.returncode == 1 and "another crawl is running" in p.stderr, p.stderr
    assert topic_end(env.cfg, LISTING) == before, "a refused crawl publishes nothing"
    run_cli(env, "--once", "--backend", "local")  # the lock died with its session


def test_interrupted_crawls_never_publish_a_complete_finish(make_env) -> None:
    """kill -9 publishes no finish at all; SIGTERM publishes an incomplete one. Either way the stream
    workers never treat the crawl as complete, so nothing is deleted."""
    env = make_env()
    populate(env, "s3", {f"d{i:03}/f.txt": b"x" for i in range(150)})
    slow = {"WARPDRIVE_CRAWLER_LIST_CONCURRENCY": "1", "WARPDRIVE_CRAWLER_BATCH_SIZE": "1"}

    for sig in (signal.SIGKILL, signal.SIGTERM):
        before = topic_end(env.cfg, LISTING)
        p = env.procs.start(f"crawl-{sig}", "crawler", "run", "--once", "--backend", "s3", env=slow)

        def started() -> str | None:
            new = [r for _, r in read_topic(env.cfg, LISTING, since=before)]
            return new[0].crawl_id if any(isinstance(r, ListingEvent) for r in new) else None

        crawl_id = wait_until(started, 60, 0.05, "the crawl's first listing events")
        env.procs.kill(f"crawl-{sig}", sig)
        markers, events = records_of(env, crawl_id)
        assert 0 < len(events) < 150, f"the crawl must be stopped half-way (saw {len(events)} files)"
        finishes = [m for m in markers if m.phase == "finish"]
        if sig == signal.SIGKILL:
            assert finishes == []
        else:
            assert p.returncode != 0
            assert len(finishes) == 1 and finishes[0].complete is False


def test_periodic_mode_crawls_every_interval(make_env) -> None:
    env = make_env(crawler={"interval": 1.0})
    populate(env, "local", {"a.txt": b"a"})
    before = topic_end(env.cfg, LISTING)
    env.procs.start("periodic", "crawler", "run", "--backend", "local")

    def finished() -> list[CrawlMarker]:
        return [
            r
            for _, r in read_topic(env.cfg, LISTING, since=before)
            if isinstance(r, CrawlMarker) and r.phase == "finish" and r.backend_name == "local"
        ]

    wait_until(lambda: len(finished()) >= 2, 60, 0.5, "two periodic crawls")
    assert all(m.complete and m.files == 1 for m in finished())
    new = [r for _, r in read_topic(env.cfg, LISTING, since=before) if isinstance(r, CrawlMarker)]
    assert {m.backend_name for m in new} == {"local"}, "--backend limits the periodic crawls"


def test_progress_bar_on_a_terminal(make_env) -> None:
    import pty

    env = make_env()
    populate(env, "local", {f"f{i}.txt": b"x" * 10 for i in range(5000)})
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [WARPDRIVE, "crawler", "run", "--once", "--backend", "local"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "WARPDRIVE_CONFIG": str(env.config_path)},
    )
    os.close(slave)
    out = read_terminal(master)
    assert p.wait(60) == 0
    text = out.decode(errors="replace")
    assert "\r\x1b[K" in text, "the bar is redrawn in place"
    assert re.search(r"local: 5,000 files 48\.8 KiB [\d,]+ files/s", text), text[-2000:]


@pytest.mark.parametrize("name", ["s3", "gcs", "azure"])
def test_unlistable_bucket_makes_the_crawl_partial(make_env, name: str) -> None:
    import dataclasses

    import warpdrive.crawler.crawl as wcrawl
    from warpdrive.crawler.publish import Publisher
    from warpdrive.schemas.db import resolve_dsn

    env = make_env()
    real = env.cfg.backend(name)
    missing = dataclasses.replace(real, url=real.url.split("://")[0] + "://wd-no-such-bucket-" + uuid.uuid4().hex[:8])

    async def run() -> wcrawl.CrawlResult:
        async with Publisher(env.cfg.kafka) as pub:
            return await wcrawl.crawl(env.cfg, missing, pub, resolve_dsn(env.cfg))

    r = asyncio.run(run())
    assert (r.status, r.files, r.errors) == ("partial", 0, 1), r
    markers, _ = records_of(env, r.crawl_id)
    assert [(m.phase, m.complete) for m in markers] == [("start", False), ("finish", False)]


def test_missing_local_root_is_an_error_not_an_empty_backend(make_env) -> None:
    env = make_env()
    os.rmdir(env.roots["local"])
    p = run_cli(env, "--once", "--backend", "local", check=False)
    assert p.returncode == 1 and "local: partial" in p.stderr, p.stderr
    markers, events = records_of(env, crawl_ids(p.stdout)["local"])
    assert events == [] and markers[-1].complete is False, "an absent root must never delete the whole index"
