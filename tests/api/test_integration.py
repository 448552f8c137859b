"""The API over data written by the real stream workers from real Kafka topics (the walking skeleton,
the ownership-rule round trip through the COMMANDS topic, a user's reads from the workers' rollups)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any, Sequence

import pytest
from aiokafka import AIOKafkaProducer

from tests.helpers import Procs, wait_until
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, CrawlMarker, ListingEvent, encode_batch, format_ts, parse_ts, utc_now
from warpdrive.schemas.stale import ACTIVITY_SQL, cutoff_week
from warpdrive.schemas.topics import ACCESS, LISTING, Topic
from warpdrive.schemas.tree import week

pytestmark = pytest.mark.services


def produce(cfg: Config, topic: Topic, key: str, batches: Sequence[Sequence[Any]]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(**cfg.kafka.client_options(), enable_idempotence=True)
        await producer.start()
        try:
            for b in batches:
                await producer.send_and_wait(topic.full_name(cfg.kafka), encode_batch(list(b)), key=key.encode())
        finally:
            await producer.stop()

    asyncio.run(run())


def test_usage_from_events_through_the_real_stream_workers(clean, viewer, admin, api_cfg: Config, procs: Procs) -> None:
    run = uuid.uuid4().hex[:6]
    procs.start("streams", "streams", "worker")
    crawl_id = f"crawl-{run}"
    files = {f"proj/{run}/a.bin": ("alice", 1000), f"proj/{run}/b.bin": ("alice", 500), f"tmp/{run}/c.bin": (None, 70)}
    produce(
        api_cfg,
        LISTING,
        "s3",
        [
            [CrawlMarker(crawl_id, "s3", "start", utc_now())],
            [
                ListingEvent(
                    crawl_id=crawl_id,
                    backend_name="s3",
                    path=p,
                    size_bytes=s,
                    owner_user=u,
                    last_modified="2026-01-01T00:00:00.000000Z",
                )
                for p, (u, s) in files.items()
            ],
            [CrawlMarker(crawl_id, "s3", "finish", utc_now(), files=len(files), bytes=1570, complete=True)],
        ],
    )

    # The crawl first, then the reads of the indexed files (the usual order).
    def crawled() -> bool:
        s3 = next(b for b in viewer.get("/api/v1/backends").json()["items"] if b["name"] == "s3")
        return (s3["last_crawl"] or {}).get("status") == "complete"

    wait_until(crawled, 60, what="the crawl to be applied")
    run_dir = viewer.get(f"/api/v1/tree?backend=s3&prefix=proj/{run}").json()  # the workers keep the tree too
    assert run_dir["self"]["total_bytes"] == 1500 and run_dir["self"]["files_here"] == 2, run_dir
    assert run_dir["self"]["stale_bytes"]["30"] == 1500  # nothing read yet
    root = {i["name"]: i for i in viewer.get("/api/v1/tree?backend=s3").json()["items"]}
    assert root["proj"]["total_bytes"] == 1500 and root["tmp"]["total_bytes"] == 70
    now = utc_now()
    events = [
        AccessEvent(
            event_id=f"n1/{run}/{i}",
            timestamp=now,
            user_id=user,
            backend_name="s3",
            path=path,
            operation="read",
            node_host="n1",
            seq=i,
            count=2,
            bytes_read=100,
        )
        for i, (user, path) in enumerate(
            [("dave", f"proj/{run}/a.bin"), ("dave", f"tmp/{run}/c.bin"), ("erin", f"proj/{run}/a.bin")]
        )
    ]
    produce(api_cfg, ACCESS, "n1", [events])

    def users() -> dict[str, dict] | None:
        body = viewer.get("/api/v1/usage?group_by=user&backend=s3").json()
        rows = {i["user"]: i for i in body["items"]}
        return rows if {"alice", "dave", "erin"} <= set(rows) and rows["alice"]["total_bytes"] == 1500 else None

    rows = wait_until(users, 60, what="usage by user from the stream workers")
    assert rows["alice"]["file_count"] == 2 and rows["alice"]["read_count"] == 0
    assert rows["dave"]["read_count"] == 4 and rows["dave"]["bytes_read"] == 200 and rows["dave"]["total_bytes"] == 0
    assert rows["erin"]["read_count"] == 2 and rows["unowned"]["total_bytes"] == 70

    # An ownership rule set through the API reaches the workers as a reown command.
    assert (
        admin.put("/api/v1/ownership", json={"backend": "s3", "prefix": f"tmp/{run}/", "team": "ops"}).status_code
        == 201
    )

    def ops_team() -> dict | None:
        items = viewer.get("/api/v1/usage?group_by=team&backend=s3").json()["items"]
        return next((i for i in items if i["team"] == "ops" and i["total_bytes"] == 70), None)

    wait_until(ops_team, 60, what="the ownership rule applied by the workers")
    # c.bin was read just now, so it is not stale; b.bin was never read.
    wait_until(
        lambda: viewer.get("/api/v1/stale?days=30&backend=s3&owner=ops").json()["total"] == 0,
        30,
        what="the read of c.bin to reach storage_files.last_access",
    )
    assert viewer.get(f"/api/v1/stale?days=30&backend=s3&prefix=proj/{run}/").json()["total"] == 1  # b.bin: never read


def test_marked_bytes_follow_file_changes_through_the_real_stream_workers(
    clean, viewer, admin, api_cfg: Config, procs: Procs
) -> None:
    run = uuid.uuid4().hex[:6]
    prefix = f"m/{run}/"
    procs.start("streams", "streams", "worker")

    def crawl(crawl_id: str, files: dict[str, int]) -> None:
        produce(
            api_cfg,
            LISTING,
            "s3",
            [
                [CrawlMarker(crawl_id, "s3", "start", utc_now(), prefix=prefix)],
                [
                    ListingEvent(crawl_id=crawl_id, backend_name="s3", path=prefix + p, size_bytes=s)
                    for p, s in files.items()
                ],
                [
                    CrawlMarker(
                        crawl_id,
                        "s3",
                        "finish",
                        utc_now(),
                        files=len(files),
                        bytes=sum(files.values()),
                        complete=True,
                        prefix=prefix,
                    )
                ],
            ],
        )

    def marked() -> dict:
        return viewer.get("/api/v1/marks?backend=s3&prefix=" + prefix).json()

    crawl(f"c1-{run}", {"grows.bin": 100, "goes.bin": 200, "stays.bin": 300})
    wait_until(
        lambda: viewer.get(f"/api/v1/tree?backend=s3&prefix={prefix}").status_code == 200,
        60,
        what="the first crawl applied",
    )
    names = ("grows.bin", "goes.bin", "stays.bin", "comes.bin")  # comes.bin: marked before it is indexed
    assert admin.post(
        "/api/v1/marks", json={"files": [{"backend": "s3", "path": prefix + n} for n in names]}
    ).json() == {"marked": 4}
    assert (marked()["total"], marked()["total_bytes"]) == (4, 600)
    # grows.bin grows, goes.bin is deleted, comes.bin appears: the workers keep each mark's size.
    crawl(f"c2-{run}", {"grows.bin": 150, "stays.bin": 300, "comes.bin": 50})
    body = wait_until(
        lambda: (m := marked())["total_bytes"] == 500 and m, 60, what="the marks' sizes kept by the workers"
    )
    assert body["total"] == 4
    sizes = {i["path"]: (i["size_bytes"], i["exists"]) for i in body["items"]}
    assert sizes == {
        prefix + "grows.bin": (150, True),
        prefix + "goes.bin": (None, False),
        prefix + "stays.bin": (300, True),
        prefix + "comes.bin": (50, True),
    }
    assert clean.fetchval("SELECT sum(size_bytes) FROM deletion_marks") == 500


def test_user_detail_from_events_through_the_real_stream_worker(clean, viewer, api_cfg: Config, procs: Procs) -> None:
    run = uuid.uuid4().hex[:6]
    user = f"u{run}"
    assert viewer.get(f"/api/v1/user/{user}").status_code == 404
    procs.start("streams", "streams", "worker")
    day1, day2 = "2026-11-20T10:00:00.000000Z", "2026-11-21T09:30:00.000000Z"
    # (timestamp, backend, file, operation, count, bytes read, bytes written), over two days and two messages
    spec = [
        [
            (day1, "s3", "a.bin", "read", 2, 300, 0),
            (day2, "s3", "a.bin", "read", 1, 100, 0),
            (day1, "s3", "b.bin", "read", 5, 1000, 0),
        ],
        [
            (day2, "s3", "b.bin", "write", 1, 0, 50),
            (day2, "gcs", "c.bin", "stat", 1, 0, 0),
            (day1, "s3", "a.bin", "read", 1, 200, 0),
        ],
    ]
    produce(
        api_cfg,
        ACCESS,
        "n1",
        [
            [
                AccessEvent(
                    event_id=f"n1/{run}/{m}/{i}",
                    timestamp=ts,
                    user_id=user,
                    backend_name=b,
                    path=f"{run}/{p}",
                    operation=op,
                    node_host="n1",
                    seq=10 * m + i,
                    count=n,
                    bytes_read=br,
                    bytes_written=bw,
                )
                for i, (ts, b, p, op, n, br, bw) in enumerate(msg)
            ]
            for m, msg in enumerate(spec)
        ],
    )

    def detail() -> dict | None:
        body = viewer.get(f"/api/v1/user/{user}?top=2").json()
        return body if sum(r["files_accessed"] for r in body.get("reads", [])) == 3 else None

    body = wait_until(detail, 60, what="the user's reads from the stream worker")
    last = datetime.fromisoformat(day2.replace("Z", "+00:00"))
    assert [{**r, "last_access": datetime.fromisoformat(r["last_access"])} for r in body["reads"]] == [
        {
            "backend": "gcs",
            "read_count": 0,
            "bytes_read": 0,
            "write_count": 0,
            "bytes_written": 0,
            "files_accessed": 1,
            "last_access": last,
        },
        {
            "backend": "s3",
            "read_count": 9,
            "bytes_read": 1600,
            "write_count": 1,
            "bytes_written": 50,
            "files_accessed": 2,
            "last_access": last,
        },
    ]
    assert [(f["backend"], f["path"], f["read_count"], f["bytes_read"]) for f in body["top_read"]] == [
        ("s3", f"{run}/b.bin", 5, 1000),
        ("s3", f"{run}/a.bin", 4, 600),
    ]
    assert body["owned"] == [] and body["top_files"] == []


def test_stale_totals_from_the_workers_rollups_equal_a_recount(clean, viewer, api_cfg: Config, procs: Procs) -> None:
    """Files every 15 h over 150 days (some never modified, some read, recently or long ago; owned by users of two
    teams, a user in none and nobody; a crawl then deletes a few), built into the tree and the owners' rollup by the
    real workers: for filters the rollups serve — backends, directories, owners (team or user) — the stale totals equal
    a recount of storage_files at the answer's own threshold, with files on both sides of the cutoff inside its week,
    for a cutoff early in a week (the week counted below it) and late in one (above it)."""
    run = uuid.uuid4().hex[:6]
    root = f"st/{run}/"
    owners = ("alice", "bob", "carol", "erin", None)  # alice, bob: vision; carol: nlp; erin: no team; None: nobody
    clean.execute(
        "INSERT INTO teams (user_id, team_name) VALUES ('alice', 'vision'), ('bob', 'vision'), ('carol', 'nlp')"
    )
    procs.start("streams", "streams", "worker")
    t0 = datetime.now(UTC)
    files = {
        k: (
            ("s3", "gcs")[k % 4 == 3],
            root + (f"d{k % 3}/e{k % 2}/" if k % 5 else f"d{k % 3}/") + f"f{k}.bin",
            1000 + k,
            None if k % 17 == 0 else format_ts(t0 - timedelta(hours=15 * k + 3)),
            owners[k % 5],
        )
        for k in range(240)
    }
    reads = {k: t0 - timedelta(hours=7 * k + 1) for k in files if k % 6 == 0}  # some before the cutoffs, some after

    def crawl(crawl_id: str, backend: str, keep: Any) -> None:
        mine = [(p, s, m, u) for b, p, s, m, u in files.values() if b == backend and keep(p)]
        produce(
            api_cfg,
            LISTING,
            backend,
            [
                [CrawlMarker(crawl_id, backend, "start", utc_now(), prefix=root)],
                [
                    ListingEvent(
                        crawl_id=crawl_id,
                        backend_name=backend,
                        path=p,
                        size_bytes=s,
                        last_modified=m,
                        owner_user=u,
                    )
                    for p, s, m, u in mine
                ],
                [
                    CrawlMarker(
                        crawl_id,
                        backend,
                        "finish",
                        utc_now(),
                        files=len(mine),
                        bytes=sum(s for _, s, _, _ in mine),
                        complete=True,
                        prefix=root,
                    )
                ],
            ],
        )

    for b in ("s3", "gcs"):
        crawl(f"c1-{run}-{b}", b, lambda p: True)
    live = lambda: clean.fetchval("SELECT count(*) FROM storage_files WHERE deleted_at IS NULL")  # noqa: E731
    wait_until(lambda: live() == len(files), 60, what="the first crawls applied")
    produce(
        api_cfg,
        ACCESS,
        "n1",
        [
            [
                AccessEvent(
                    event_id=f"n1/{run}/{k}",
                    timestamp=format_ts(ts),
                    user_id="dave",
                    backend_name=files[k][0],
                    path=files[k][1],
                    operation="read",
                    node_host="n1",
                    seq=k,
                    bytes_read=10,
                )
                for k, ts in reads.items()
            ]
        ],
    )
    wait_until(
        lambda: clean.fetchval("SELECT count(*) FROM storage_files WHERE last_access IS NOT NULL") == len(reads),
        60,
        what="the reads applied",
    )
    crawl(f"c2-{run}-s3", "s3", lambda p: not p.endswith(("1.bin", "7.bin")))  # the s3 files ending in 1 and 7 go
    gone = sum(1 for b, p, *_ in files.values() if b == "s3" and p.endswith(("1.bin", "7.bin")))
    wait_until(lambda: live() == len(files) - gone, 60, what="the second crawl's deletions applied")

    def recount(
        body: dict,
        backends: list[str] | None,
        prefix: str,
        since: datetime | None = None,
        until: datetime | None = None,
        owner: str | None = None,
    ) -> tuple[int, int]:
        r = clean.fetch(
            f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0) AS b FROM storage_files
                            WHERE deleted_at IS NULL AND starts_with(path, $1) AND ($2::text[] IS NULL OR backend_name = ANY($2))
                              AND {ACTIVITY_SQL} >= $3 AND {ACTIVITY_SQL} < $4
                              AND ($5::text IS NULL OR owner_team = $5 OR owner_user = $5)""",
            prefix,
            backends,
            since or datetime.min.replace(tzinfo=UTC),
            until or parse_ts(body["threshold"]),
            owner,
        )
        return r[0]["n"], r[0]["b"]

    def cutoff_days(weekday: int) -> int:  # a cutoff on this weekday, at least 20 days back
        return next(n for n in range(20, 30) if (datetime.now(UTC) - timedelta(days=n)).weekday() == weekday)

    filters = [
        {},
        {"backend": "s3"},
        {"prefix": root},
        {"backend": "gcs", "prefix": root + "d1/"},
        {"backend": "s3", "prefix": root + "d2/e0/"},
        {"covered_only": "true"},
        # Owners: a team, its users, a user of another team, a user in no team, nobody's files, on one backend or all.
        {"owner": "vision"},
        {"owner": "nlp", "backend": "s3"},
        {"owner": "alice"},
        {"owner": "carol", "backend": "gcs"},
        {"owner": "erin"},
        {"owner": "unowned", "covered_only": "true"},
    ]
    edges = 0  # owner filters with files on the side of the cutoff counted file by file
    for days in (cutoff_days(1), cutoff_days(4), 0, 90, 365):  # Tuesday: counted below; Friday: above
        for f in filters:
            body = viewer.get("/api/v1/stale", params={"days": days, **f}).json()
            covered = [b for b, c in body["coverage"].items() if c["covers_period"]] if f.get("covered_only") else None
            backends = covered if covered is not None else [f["backend"]] if "backend" in f else None
            prefix, owner = f.get("prefix", ""), f.get("owner")
            assert body["total_basis"] == "rollup" and body["total_exact"] is True, (days, f, body)
            assert (body["total"], body["total_bytes"]) == recount(body, backends, prefix, owner=owner), (days, f)
            assert (body["scope_files"], body["scope_bytes"]) == recount(
                body, backends, prefix, until=datetime.max.replace(tzinfo=UTC), owner=owner
            )
            cut = cutoff_week(parse_ts(body["threshold"]))
            edges += bool(owner) and recount(body, backends, prefix, cut.since, cut.until, owner)[0] > 0
        if days in (0, 90, 365):
            continue
        cut = parse_ts(body["threshold"])
        start = datetime.combine(week(cut), time(), UTC)
        assert recount(body, None, root, since=start)[0] > 0  # files in the cutoff's week before it …
        assert recount(body, None, root, since=cut, until=start + timedelta(days=7))[0] > 0  # … and after it
    assert edges > 0  # so the owners' totals are wrong without the boundary count
    # An owner and a directory together: no rollup holds that; counted, still exact here (well under the cap).
    body = viewer.get("/api/v1/stale", params={"days": 90, "owner": "alice", "prefix": root}).json()
    assert body["total_basis"] == "count" and body["scope_files"] is None
    assert (body["total"], body["total_bytes"]) == recount(body, None, root, owner="alice")
