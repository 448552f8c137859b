"""Day-one history (issue 15), end to end on the real services: a generated estate with a known history
imported with `warpdrive backfill` (JSON lines with leading slashes; S3 access logs on the S3 server), crawled by
the real crawler, applied by a real stream worker, and read back through `warpdrive-ctl` and the real API.

The ground truth is computed here from the generated history, independently of the code under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner

from tests.cli.conftest import _free_port, _ready
from tests.cli.support import Db
from tests.helpers import Procs, wait_until
from warpdrive.cli.main import cli as ctl_cli
from warpdrive.compose.stack import DEMO_BUCKET
from warpdrive.crawler.backfill import backfill
from warpdrive.schemas.storage import open_fs
from warpdrive.schemas.config import Config, dump_toml, load
from warpdrive.schemas.records import format_ts
from warpdrive.schemas.topics import ACCESS, ensure_topics

pytestmark = pytest.mark.services

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
USERS = ("alice", "bob", "carol")


@dataclass
class Hist:
    cfg: Config
    config_path: Path
    url: str
    procs: Procs
    db: Db
    local: Path  # root of backend "hl" (atime off); "hg" is its sibling "growth", "hh" its sibling "holes"
    atime_root: Path  # root of backends "ha" (atime strict) and "ho" (the same files, atime off)
    s3_prefix: str  # bucket/prefix of backend "hs3"

    def ctl(self, *args: str) -> Any:
        r = CliRunner().invoke(ctl_cli, ["--control-plane", self.url, *args], env={"WARPDRIVE_TOKEN": None})
        assert r.exit_code == 0, r.output
        return json.loads(r.output) if "--format" in args and "json" in args else r.output

    def crawl(self, backend: str) -> None:
        """One crawl of ``backend``, returning once the worker has applied it (the crawler only publishes)."""
        done = "SELECT count(*) AS n FROM crawls WHERE backend_name = $1 AND status = 'complete'"
        before = self.db.fetch(done, backend)[0]["n"]
        r = subprocess.run(
            [str(Path(sys.executable).with_name("warpdrive")), "crawler", "run", "--once", "--backend", backend],
            env={**os.environ, "WARPDRIVE_CONFIG": str(self.config_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(
            lambda: self.db.fetch(done, backend)[0]["n"] > before,
            120,
            what=f"the crawl of {backend} applied",
            explain=lambda: self.procs.tail("streams"),
        )

    def caught_up(self) -> bool:
        """The worker has applied every access message in Kafka (an observable fact, not a sleep)."""

        async def ends() -> dict[int, int]:
            c = AIOKafkaConsumer(**self.cfg.kafka.client_options())
            await c.start()
            try:
                name = ACCESS.full_name(self.cfg.kafka)
                tps = [TopicPartition(name, p) for p in range(ACCESS.partitions or self.cfg.kafka.partitions)]
                c.assign(tps)
                return {tp.partition: o for tp, o in (await c.end_offsets(tps)).items()}
            finally:
                await c.stop()

        end = asyncio.run(ends())
        stored = {
            r["partition"]: r["next_offset"]
            for r in self.db.fetch(
                "SELECT partition, next_offset FROM stream_offsets WHERE consumer = $1 AND topic = $2",
                self.cfg.streams.app_id,
                ACCESS.full_name(self.cfg.kafka),
            )
        }
        return all(stored.get(p, 0) >= o for p, o in end.items())

    def stale(self, backend: str, days: int, min_size: int = 0) -> tuple[set[str], list[dict]]:
        items: list[dict] = []
        while True:
            doc = self.ctl(
                "stale",
                "--backend",
                backend,
                "--days",
                str(days),
                "--min-size",
                str(min_size),
                "--limit",
                "1000",
                "--offset",
                str(len(items)),
                "--format",
                "json",
            )
            items += doc["items"]
            if not doc["items"]:
                paths = {i["path"] for i in items}
                assert len(paths) == len(items) == doc["total"]  # pages neither overlap nor miss a row
                return paths, items


@pytest.fixture(scope="module")
def hist(config_dict: dict, session_id: str, tmp_path_factory: pytest.TempPathFactory, cfg: Config) -> Iterator[Hist]:
    d = tmp_path_factory.mktemp("history")
    local, atime_root = d / "local", d / "atime"
    for sub in (local, atime_root, d / "growth", d / "holes"):
        sub.mkdir()
    port = _free_port()
    s3 = next(b for b in config_dict["backends"] if b["name"] == "s3")
    s3_prefix = f"{DEMO_BUCKET}/hist-{session_id}"
    conf = {
        **config_dict,
        "kafka": {**config_dict["kafka"], "topic_prefix": f"t{session_id}hist."},
        "streams": {**config_dict.get("streams", {}), "app_id": f"wd-streams-{session_id}-hist"},
        "api": {**config_dict.get("api", {}), "listen": f"127.0.0.1:{port}", "insecure_no_auth": True},
        "history": {"users": {"arn:aws:iam::123456789012:role/trainer": "carol"}},
        "backends": [
            {"name": "hl", "url": f"file://{local}"},
            {"name": "ha", "url": f"file://{atime_root}", "atime": "strict"},
            {"name": "ho", "url": f"file://{atime_root}"},
            {"name": "hg", "url": f"file://{d / 'growth'}"},
            {"name": "hh", "url": f"file://{d / 'holes'}"},
            {"name": "hs3", "url": f"s3://{s3_prefix}", "storage_options": s3["storage_options"]},
        ],
    }
    path = d / "warpdrive.toml"
    path.write_text(dump_toml(conf))
    hcfg = load(path)
    asyncio.run(ensure_topics(hcfg.kafka))
    fs = open_fs(hcfg.backend("hs3"))
    if not fs.exists(DEMO_BUCKET):
        fs.mkdir(DEMO_BUCKET)
    procs = Procs(path, d)
    db = Db(hcfg.postgres.dsn)
    try:
        api = procs.start("api", "api", "serve")
        procs.start("streams", "streams", "worker")
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url) or api.poll() is not None, 60, what="the API to answer /readyz")
        assert api.poll() is None, procs.log("api")[-3000:]
        yield Hist(hcfg, path, url, procs, db, local, atime_root, s3_prefix)
    finally:
        procs.stop_all()


def _estate(root: Path, rnd: random.Random, n: int) -> dict[str, tuple[int, datetime]]:
    """``n`` files under ``root`` with sizes and modification times from 300 days ago to yesterday (some recent)."""
    files = {}
    for i in range(n):
        rel = f"d{i % 12}/sub{i % 5}/f{i}.bin"
        size = rnd.randrange(1, 50_000)
        mtime = NOW - timedelta(days=rnd.choice([rnd.uniform(1, 300), rnd.uniform(1, 20)]))
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\0" * size)
        os.utime(p, (mtime.timestamp(), mtime.timestamp()))
        files[rel] = (size, mtime)
    return files


def _truth(
    files: dict[str, tuple[int, datetime]], last_read: dict[str, datetime], days: int, min_size: int
) -> set[str]:
    threshold = NOW - timedelta(days=days)
    return {
        p for p, (size, mtime) in files.items() if size >= min_size and max(mtime, last_read.get(p, mtime)) < threshold
    }


def test_jsonl_history_gives_exact_covered_stale_answers_and_imports_once(hist: Hist, tmp_path: Path) -> None:
    rnd = random.Random(15)
    files = _estate(hist.local, rnd, 2000)
    hist.crawl("hl")
    # Ten months of reads and writes on two thirds of the files; paths as agents' logs of other tools have them.
    read = rnd.sample(sorted(files), len(files) * 2 // 3)
    lines, last_read = [], {}
    for _ in range(12_000):
        p = rnd.choice(read)
        ts = NOW - timedelta(seconds=rnd.uniform(3600, 300 * 86400))
        op = rnd.choice(("read", "read", "write", "stat"))
        if op != "stat":
            last_read[p] = max(last_read.get(p, ts), ts)
        shown = rnd.choice([f"/{p}", f"./{p}", "/" + p.replace("/", "//", 1), p])
        lines.append(
            orjson.dumps(
                {
                    "timestamp": format_ts(ts),
                    "user_id": rnd.choice(USERS),
                    "backend_name": "hl",
                    "path": shown,
                    "operation": op,
                    "bytes_read": 100 if op == "read" else 0,
                    "cache_hit": False,
                    "node_host": "old-node",
                    "latency_ms": 1.0,
                    "error": None,
                }
            ).decode()
        )
    bad_at = {
        101: "{not json",
        2002: '{"timestamp": 5}',
        5003: orjson.dumps(
            {
                "timestamp": format_ts(NOW),
                "user_id": "x",
                "backend_name": "hl",
                "path": "a/../../etc/passwd",
                "operation": "read",
            }
        ).decode(),
    }
    for n in sorted(bad_at):
        lines.insert(n - 1, bad_at[n])
    lines.append(
        orjson.dumps(
            {"timestamp": format_ts(NOW), "user_id": "x", "backend_name": "elsewhere", "path": "x", "operation": "read"}
        ).decode()
    )
    log = tmp_path / "history.jsonl"
    log.write_text("\n".join(lines) + "\n")

    dry = asyncio.run(backfill(hist.cfg, [str(log)], dry_run=True))
    assert dry.backends["hl"].events == 12_000 and dry.imported == 0
    assert hist.db.fetch("SELECT count(*) AS n FROM history_lines")[0]["n"] == 0  # a dry run publishes nothing

    s = asyncio.run(backfill(hist.cfg, [str(log)]))
    assert (s.lines, s.imported, s.unparseable, s.unknown_backend) == (12_004, 12_000, 3, 1)
    assert [line for _, line, _ in s.bad] == [101, 2002, 5003]
    wait_until(hist.caught_up, 120, what="the worker to apply the import", explain=lambda: hist.procs.tail("streams"))

    for days, min_size in ((7, 0), (30, 0), (90, 0), (90, 20_000), (180, 1000), (365, 0)):
        got, items = hist.stale("hl", days, min_size)
        want = _truth(files, last_read, days, min_size)
        assert got == want, (days, min_size, len(got - want), len(want - got))
        assert all(i["coverage_ok"] for i in items) or days > 299  # the import reaches 300 days back
    before = hist.db.fetch(
        "SELECT sum(read_count) AS r, sum(write_count) AS w, count(*) AS n FROM access_log WHERE backend_name = 'hl'"
    )[0]
    cov = hist.ctl("backends", "--format", "json")
    hl = next(b for b in cov["items"] if b["name"] == "hl")
    assert hl["coverage"]["history"][0]["format"] == "jsonl" and hl["coverage"]["history"][0]["events"] == 12_000
    assert "imported jsonl" in hl["coverage"]["note"] and hl["coverage"]["telemetry_since"] is None

    # The same file again: every line already applied, nothing changes.
    again = asyncio.run(backfill(hist.cfg, [str(log)]))
    assert again.imported == 12_000
    wait_until(hist.caught_up, 120, what="the worker to apply the second import")
    after = hist.db.fetch(
        "SELECT sum(read_count) AS r, sum(write_count) AS w, count(*) AS n FROM access_log WHERE backend_name = 'hl'"
    )[0]
    assert dict(after) == dict(before)
    assert hist.db.fetch("SELECT events FROM history_coverage WHERE backend_name = 'hl'")[0]["events"] == 12_000
    assert hist.stale("hl", 90)[0] == _truth(files, last_read, 90, 0)
    out = hist.ctl("stale", "--backend", "hl", "--days", "90")
    assert "coverage hl: imported jsonl" in out

    # The log grew by two reads, and is imported in blocks of another size (none equal to the first import's; the
    # last holds old lines beside the two new ones): the workers apply exactly the new lines, line by line.
    stale = sorted(_truth(files, last_read, 90, 0))[:2]
    with log.open("a") as f:
        for p in stale:
            f.write(
                orjson.dumps(
                    {
                        "timestamp": format_ts(NOW),
                        "user_id": "bob",
                        "backend_name": "hl",
                        "path": p,
                        "operation": "read",
                    }
                ).decode()
                + "\n"
            )
            last_read[p] = NOW
    grown = asyncio.run(backfill(hist.cfg, [str(log)], batch_size=777))
    assert grown.imported == 12_002
    wait_until(hist.caught_up, 120, what="the worker to apply the grown log")
    now = hist.db.fetch(
        "SELECT sum(read_count) AS r, sum(write_count) AS w, count(*) AS n FROM access_log WHERE backend_name = 'hl'"
    )[0]
    assert (now["r"], now["w"]) == (before["r"] + 2, before["w"])
    assert hist.db.fetch("SELECT events FROM history_coverage WHERE backend_name = 'hl'")[0]["events"] == 12_002
    assert hist.stale("hl", 90)[0] == _truth(files, last_read, 90, 0) and not set(stale) & hist.stale("hl", 90)[0]


def _day_lines(days: list[date], paths: list[str], rnd: random.Random, last_read: dict[str, datetime]) -> list[str]:
    """JSON lines of 1-4 reads on each of ``days`` (UTC), recording each file's last read in ``last_read``."""
    lines = []
    for day in days:
        for _ in range(rnd.randint(1, 4)):
            p = rnd.choice(paths)
            ts = datetime.combine(day, time(), UTC) + timedelta(seconds=rnd.randrange(86_400))
            last_read[p] = max(last_read.get(p, ts), ts)
            lines.append(
                orjson.dumps(
                    {
                        "timestamp": format_ts(ts),
                        "user_id": "alice",
                        "backend_name": "hh",
                        "path": p,
                        "operation": "read",
                    }
                ).decode()
            )
    return lines


def test_a_hole_in_imported_history_is_not_evidence_until_its_days_are_imported(hist: Hist, tmp_path: Path) -> None:
    rnd = random.Random(19)
    files = _estate(hist.local.parent / "holes", rnd, 300)
    hist.crawl("hh")
    today = NOW.date()
    # Reads on every day of the last 120 but today, except 60..51 days ago: those logs are missing (a 10-day hole).
    hole = [today - timedelta(days=k) for k in range(60, 50, -1)]
    logged = [today - timedelta(days=k) for k in range(120, 0, -1) if today - timedelta(days=k) not in hole]
    paths = sorted(files)[:200]
    last_read: dict[str, datetime] = {}  # as the first import tells it, then with the missing days
    first_log, missing_log = tmp_path / "first.jsonl", tmp_path / "missing.jsonl"
    first_log.write_text("\n".join(_day_lines(logged, paths, rnd, last_read)) + "\n")
    in_hole: dict[str, datetime] = {}
    missing_log.write_text("\n".join(_day_lines(hole, paths, rnd, in_hole)) + "\n")
    first_event = min(datetime.fromisoformat(orjson.loads(line)["timestamp"]) for line in first_log.read_text().split())

    s = asyncio.run(backfill(hist.cfg, [str(first_log)]))
    assert s.backends["hh"].gaps() == [(hole[0].isoformat(), hole[-1].isoformat(), 10)]  # the summary says so too
    wait_until(hist.caught_up, 120, what="the worker to apply the import", explain=lambda: hist.procs.tail("streams"))

    def coverage() -> dict[str, Any]:
        return next(b for b in hist.ctl("backends", "--format", "json")["items"] if b["name"] == "hh")["coverage"]

    cov = coverage()
    after_hole = datetime.combine(hole[-1] + timedelta(days=1), time(), UTC)
    assert cov["holes"] == [{"first": hole[0].isoformat(), "last": hole[-1].isoformat(), "days": 10}]
    assert datetime.fromisoformat(cov["since"]) == after_hole
    assert f"HOLE {hole[0]}..{hole[-1]} (10 days without read evidence)" in cov["note"]
    [h] = cov["history"]
    assert (h["format"], datetime.fromisoformat(h["since"]), h["events"], h["days"]) == (
        "jsonl",
        first_event,
        s.imported,
        len(logged),
    )
    assert f"HOLE {hole[0]}..{hole[-1]}" in hist.ctl("backends")
    # Stale answers resting on the hole's days are not covered; those within the evidence since it are.
    for days, covered in ((30, True), (45, True), (90, False), (110, False)):
        got, items = hist.stale("hh", days)
        assert got == _truth(files, last_read, days, 0), days
        assert items and all(i["coverage_ok"] is covered for i in items), days
    out = hist.ctl("stale", "--backend", "hh", "--days", "90")
    assert "read evidence does not cover 90 days on hh" in out and f"HOLE {hole[0]}..{hole[-1]}" in out

    # Importing the missing days closes the hole: covered since the first event, every stale answer covered.
    s2 = asyncio.run(backfill(hist.cfg, [str(missing_log)]))
    for p, t in in_hole.items():
        last_read[p] = max(last_read.get(p, t), t)
    wait_until(hist.caught_up, 120, what="the worker to apply the missing days")
    cov = coverage()
    assert cov["holes"] == [] and "HOLE" not in cov["note"]
    assert datetime.fromisoformat(cov["since"]) == first_event
    assert cov["history"][0]["events"] == s.imported + s2.imported and cov["history"][0]["days"] == 120
    for days in (90, 110):
        got, items = hist.stale("hh", days)
        assert got == _truth(files, last_read, days, 0) and all(i["coverage_ok"] for i in items), days

    # Importing both again changes nothing.
    asyncio.run(backfill(hist.cfg, [str(first_log), str(missing_log)]))
    wait_until(hist.caught_up, 120, what="the worker to apply the second import")
    assert coverage() == cov


def _s3_line(bucket: str, key: str, ts: datetime, requester: str, op: str, status: int = 200) -> str:
    return (
        f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be {bucket} "
        f"[{ts:%d/%b/%Y:%H:%M:%S} +0000] 192.0.2.3 {requester} 3E57427F3EXAMPLE {op} {key} "
        f'"GET /{bucket}/{key} HTTP/1.1" {status} - 4096 4096 7 6 "-" "aws-cli/2" - s9lzHY= SigV4 '
        "ECDHE-RSA-AES128-SHA AuthHeader s3.amazonaws.com TLSv1.2 - -"
    )


def test_s3_access_logs_from_the_s3_server(hist: Hist) -> None:
    rnd = random.Random(16)
    fs = open_fs(hist.cfg.backend("hs3"))
    bucket, prefix = hist.s3_prefix.split("/", 1)
    keys = [f"ds{i % 4}/part-{i:04d}.parquet" for i in range(300)]
    for k in keys:
        fs.pipe(f"{hist.s3_prefix}/{k}", b"x" * rnd.randrange(1, 2000))
    hist.crawl("hs3")
    requesters = {
        "arn:aws:iam::123456789012:user/alice": "alice",
        "arn:aws:iam::123456789012:role/trainer": "carol",
        "arn:aws:sts::123456789012:assumed-role/Admin/bob": "bob",
    }
    last: dict[str, datetime] = {}
    users: set[tuple[str, str]] = set()
    logs: list[list[str]] = [[], [], []]
    for i in range(3000):
        k = rnd.choice(keys)
        ts = NOW - timedelta(seconds=rnd.uniform(3600, 200 * 86400))
        req = rnd.choice(sorted(requesters))
        op, status = rnd.choice(
            [("REST.GET.OBJECT", 200), ("REST.HEAD.OBJECT", 200), ("REST.GET.OBJECT", 404), ("REST.GET.BUCKET", 200)]
        )
        if op.endswith("OBJECT") and status == 200:
            last[k] = max(last.get(k, ts), ts)
            users.add((requesters[req], k))
        logs[i % 3].append(_s3_line(bucket, f"{prefix}/{k}", ts, req, op, status))
    log_root = f"{bucket}/hist-logs-{hist.s3_prefix.rsplit('-', 1)[-1]}"
    for i, lines in enumerate(logs):
        fs.pipe(f"{log_root}/2026-12-01-00-00-0{i}-ABCDEF", ("\n".join(lines) + "\n").encode())

    s = asyncio.run(backfill(hist.cfg, [f"s3://{log_root}/"]))
    assert s.files == 3 and s.formats == {"s3-access-log": 3} and s.unparseable == 0
    assert s.imported == sum(1 for lines in logs for line in lines if " 200 " in line and "BUCKET" not in line)
    assert s.skipped["failed request"] > 0 and s.skipped["operation REST.GET.BUCKET"] > 0
    wait_until(hist.caught_up, 120, what="the worker to apply the S3 logs", explain=lambda: hist.procs.tail("streams"))
    rows = hist.db.fetch(
        "SELECT path, last_access FROM storage_files WHERE backend_name = 'hs3' AND deleted_at IS NULL"
    )
    assert {r["path"]: r["last_access"] for r in rows if r["last_access"]} == {
        k: t.replace(microsecond=0) for k, t in last.items()
    }
    got_users = {
        (r["user_id"], r["path"])
        for r in hist.db.fetch("SELECT DISTINCT user_id, path FROM access_log WHERE backend_name = 'hs3'")
    }
    assert got_users == users
    again = asyncio.run(backfill(hist.cfg, [f"s3://{log_root}/"]))
    assert again.imported == s.imported
    wait_until(hist.caught_up, 120, what="the second import")
    assert hist.db.fetch("SELECT events FROM history_coverage WHERE backend_name = 'hs3'")[0]["events"] == s.imported


def test_atime_is_evidence_where_the_backend_trusts_it(hist: Hist) -> None:
    rnd = random.Random(17)
    files: dict[str, tuple[int, datetime]] = {}
    atimes: dict[str, datetime] = {}
    for i in range(400):
        rel = f"a{i % 7}/f{i}.dat"
        size = rnd.randrange(1, 5000)
        mtime = NOW - timedelta(days=rnd.uniform(100, 400))
        atime = mtime + timedelta(days=rnd.uniform(0, 99))
        p = hist.atime_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\0" * size)
        os.utime(p, (atime.timestamp(), mtime.timestamp()))
        files[rel], atimes[rel] = (size, mtime), atime
    hist.crawl("ha")
    hist.crawl("ho")
    for days in (30, 120, 200, 300):
        got, items = hist.stale("ha", days)
        assert got == _truth(files, atimes, days, 0), days
        assert items and all(i["coverage_ok"] for i in items)
        got_off, items_off = hist.stale("ho", days)
        assert got_off == _truth(files, {}, days, 0) and not any(i["coverage_ok"] for i in items_off)
    ha = next(b for b in hist.ctl("backends", "--format", "json")["items"] if b["name"] == "ha")
    assert (
        ha["coverage"]["atime"] == "strict"
        and ha["coverage"]["from_atime"]
        and "atime strict" in ha["coverage"]["note"]
    )


def test_growth_before_the_first_crawl_is_reconstructed_and_labelled(hist: Hist) -> None:
    rnd = random.Random(18)
    files = _estate(hist.local.parent / "growth", rnd, 500)
    hist.crawl("hg")
    today = NOW.date()
    doc = hist.ctl("growth", "--backend", "hg", "--period", "365d", "--format", "json")
    assert doc["reconstructed_until"] == today.isoformat()
    points = {p["date"]: p for p in doc["points"]}
    for day, p in points.items():
        d = datetime.fromisoformat(day).date()
        on_disk = [size for size, mtime in files.values() if mtime.date() <= d]
        added = sum(size for size, mtime in files.values() if mtime.date() == d)
        assert (p["total_bytes"], p["file_count"], p["added_bytes"], p["removed_bytes"], p["reconstructed"]) == (
            sum(on_disk),
            len(on_disk),
            added,
            0,
            d < today,
        ), day
    # A year ago nothing was there yet; the estate grew to the measured total of the first crawl's day.
    assert doc["points"][0]["total_bytes"] == 0 < doc["points"][-2]["total_bytes"] <= doc["points"][-1]["total_bytes"]
    out = hist.ctl("growth", "--backend", "hg", "--period", "30d")
    assert f"before {today.isoformat()} (the first crawl) totals are reconstructed" in out
    # A second crawl changes nothing of it.
    hist.crawl("hg")
    assert hist.ctl("growth", "--backend", "hg", "--period", "365d", "--format", "json")["points"] == doc["points"]
