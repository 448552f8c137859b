"""The job runner inside `warpdrive crawler run`: move (copy, verify, delete; resumable, cancellable,
dry-run) and crawl commands from the commands topic, with results as JobEvents."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from warpdrive.schemas.records import Command, CrawlMarker, JobEvent, ListingEvent, encode_batch, utc_now
from warpdrive.schemas.topics import COMMANDS, JOB_EVENTS, LISTING

from tests.crawler.conftest import Env, read_topic
from tests.crawler.test_crawl import populate, run_cli
from tests.crawler.test_index import query
from tests.helpers import wait_until

pytestmark = pytest.mark.services

FINAL = ("done", "failed", "cancelled")


def send(env: Env, kind: str, **args: Any) -> str:
    job_id = uuid.uuid4().hex

    async def run() -> None:
        producer = AIOKafkaProducer(**env.cfg.kafka.client_options())
        await producer.start()
        try:
            cmd = Command(job_id, kind, utc_now(), args)
            await producer.send_and_wait(COMMANDS.full_name(env.cfg.kafka), encode_batch([cmd]), key=b"*")
        finally:
            await producer.stop()

    asyncio.run(run())
    return job_id


def events(env: Env, job_id: str) -> list[JobEvent]:
    out = [r for k, r in read_topic(env.cfg, JOB_EVENTS, JobEvent) if r.job_id == job_id]
    return out


def final(env: Env, job_id: str, timeout: float = 90, after: int = 0) -> JobEvent:
    def check() -> JobEvent | None:
        evs = events(env, job_id)[after:]
        return next((e for e in evs if e.state in FINAL), None)

    return wait_until(check, timeout, 0.3, f"job {job_id} to end")  # type: ignore[return-value]


def runner(env: Env, **settings: str) -> None:
    env.procs.start(
        "jobs",
        "crawler",
        "run",
        "--no-schedule",
        env={f"WARPDRIVE_CRAWLER_{k.upper()}": v for k, v in settings.items()},
    )


def count(env: Env, name: str, sub: str) -> int:
    fs = env.fs(name)
    fs.invalidate_cache()
    return len(fs.find(f"{env.roots[name]}/{sub}"))


def snapshot(env: Env, name: str, sub: str) -> dict[str, bytes]:
    """Every file under ``sub`` of the backend with its bytes, read back from the store itself."""
    fs = env.fs(name)
    fs.invalidate_cache()
    base = f"{env.roots[name]}/{sub}"
    return {p[len(base) + 1 :]: fs.cat_file(p) for p in fs.find(base)}


def test_move_s3_to_gcs_verified_byte_for_byte(make_env) -> None:
    env = make_env()
    env.procs.start("streams", "streams", "worker")
    tree = {
        "big.bin": os.urandom(9 << 20),  # more than one copy chunk
        "empty": b"",
        "a/b/c.txt": b"nested",
        **{f"many/{i}.dat": os.urandom(1000 + i) for i in range(20)},
    }
    populate(env, "s3", {f"proj/{k}": v for k, v in tree.items()})
    populate(env, "s3", {"proj2/stay.txt": b"not under proj", "proj.txt": b"neither"})
    run_cli(env, "--once", "--backend", "s3")
    runner(env)

    job = send(env, "move", src="s3:proj", dst="gcs:archive/proj", dry_run=False)
    end = final(env, job)
    assert end.state == "done", end.error
    assert end.progress["files_done"] == len(tree) and end.progress["bytes_done"] == sum(map(len, tree.values()))
    assert [c["status"] for c in end.progress["crawls"]] == ["complete", "complete"]

    assert snapshot(env, "gcs", "archive/proj") == tree
    assert snapshot(env, "s3", "proj") == {}
    assert set(snapshot(env, "s3", "proj2")) == {"stay.txt"} and env.fs("s3").exists(f"{env.roots['s3']}/proj.txt")

    # The index followed through listing events: destination rows live, source rows deleted.
    def indexed() -> bool:
        live = {
            r["path"]: r["size_bytes"]
            for r in query(
                env,
                "SELECT path, size_bytes FROM storage_files WHERE backend_name = 'gcs' AND deleted_at IS NULL"
                " AND path LIKE 'archive/proj/%'",
            )
        }
        gone = query(
            env,
            "SELECT count(*) AS n FROM storage_files WHERE backend_name = 's3' AND path LIKE 'proj/%'"
            " AND deleted_at IS NULL",
        )[0]["n"]
        return live == {f"archive/proj/{k}": len(v) for k, v in tree.items()} and gone == 0

    wait_until(indexed, 60, what="storage_files to follow the move")
    assert [e.state for e in events(env, job)][0] == "running"


def test_move_killed_half_way_resumes_and_completes(make_env) -> None:
    env = make_env()
    tree = {f"f{i:02}.bin": os.urandom(256 << 10) for i in range(30)}
    populate(env, "s3", {f"data/{k}": v for k, v in tree.items()})
    runner(env, move_concurrency="1")
    job = send(env, "move", src="s3:data", dst="gcs:cold/data")

    wait_until(lambda: count(env, "gcs", "cold/data") >= 3, 60, 0.05, "the move to be under way")
    env.procs.kill("jobs", signal.SIGKILL)
    at_dst, at_src = snapshot(env, "gcs", "cold/data"), snapshot(env, "s3", "data")
    assert 0 < len(at_dst) < len(tree), "killed half-way"
    assert set(at_dst) | set(at_src) == set(tree), "every file is at the source, the destination, or both"
    assert all(tree[k] == v for k, v in at_dst.items()), "no partial file is ever visible at the destination"
    assert all(tree[k] == v for k, v in at_src.items())
    assert not any(e.state in FINAL for e in events(env, job))

    seen = len(events(env, job))
    runner(env)  # the command was never committed: the restarted runner resumes it
    end = final(env, job, after=seen)
    assert end.state == "done", end.error
    assert snapshot(env, "gcs", "cold/data") == tree
    assert snapshot(env, "s3", "data") == {}


def test_cancel_stops_a_move_and_keeps_every_unverified_source(make_env) -> None:
    env = make_env()
    tree = {f"f{i:02}.bin": os.urandom(256 << 10) for i in range(30)}
    populate(env, "s3", {f"c/{k}": v for k, v in tree.items()})
    runner(env, move_concurrency="1")
    job = send(env, "move", src="s3:c", dst="gcs:c")
    wait_until(lambda: count(env, "gcs", "c") >= 2, 60, 0.05, "the move to be under way")
    send(env, "cancel", job_id=job)
    end = final(env, job)
    assert end.state == "cancelled"
    at_dst, at_src = snapshot(env, "gcs", "c"), snapshot(env, "s3", "c")
    assert len(at_src) > 0 and set(at_dst) | set(at_src) == set(tree)
    assert all(tree[k] == v for k, v in at_dst.items())

    # The runner is still serving: a dry run reports what is left.
    dry = final(env, send(env, "move", src="s3:c", dst="gcs:c", dry_run=True))
    assert dry.state == "done"
    assert (dry.progress["files_total"], dry.progress["dry_run"]) == (len(at_src), True)
    assert snapshot(env, "s3", "c") == at_src, "a dry run moves nothing"


def test_single_file_move_local_to_s3_and_bad_requests(make_env) -> None:
    env = make_env()
    populate(env, "local", {"reports/q1.csv": b"a,b\n1,2\n", "reports/q2.csv": b"x"})
    runner(env)
    end = final(env, send(env, "move", src="local:reports/q1.csv", dst="s3:cold/q1-2026.csv"))
    assert end.state == "done", end.error
    assert (end.progress["files_total"], end.progress["files_done"]) == (1, 1)
    assert snapshot(env, "s3", "cold") == {"q1-2026.csv": b"a,b\n1,2\n"}
    assert not os.path.exists(os.path.join(env.roots["local"], "reports/q1.csv"))
    assert os.path.exists(os.path.join(env.roots["local"], "reports/q2.csv"))

    # The API's spelling of the same request (dest_path defaults to the source path).
    end = final(env, send(env, "move", backend="local", path="reports", dest_backend="gcs"))
    assert end.state == "done", end.error
    assert snapshot(env, "gcs", "reports") == {"q2.csv": b"x"}

    for args, message in (
        ({"src": "nowhere:x", "dst": "s3:y"}, "no backend named 'nowhere'"),
        ({"src": "local:missing", "dst": "s3:y"}, "no such file or prefix"),
        ({"src": "local:reports", "dst": "local:reports/sub"}, "is inside"),
    ):
        end = final(env, send(env, "move", **args))
        assert end.state == "failed" and message in (end.error or ""), (args, end.error)


def test_crawl_command_runs_a_crawl_now(make_env) -> None:
    env = make_env()
    populate(env, "local", {"x.txt": b"12345", "sub/y.txt": b"y"})
    runner(env)
    end = final(env, send(env, "crawl", backend="local", prefix="sub"))
    assert end.state == "done", end.error
    assert [(c["prefix"], c["files"]) for c in end.progress["crawls"]] == [("sub", 1)]

    end = final(env, send(env, "crawl", backend="local"))
    assert end.state == "done", end.error
    (c,) = end.progress["crawls"]
    assert (c["backend"], c["status"], c["files"], c["bytes"]) == ("local", "complete", 2, 6)
    recs = [r for _, r in read_topic(env.cfg, LISTING) if r.crawl_id == c["crawl_id"]]
    assert sorted(r.path for r in recs if isinstance(r, ListingEvent)) == ["sub/y.txt", "x.txt"]
    assert [r.complete for r in recs if isinstance(r, CrawlMarker) and r.phase == "finish"] == [True]


def test_moves_to_and_from_azure_verified_byte_for_byte(make_env) -> None:
    """Azure Blob → S3 → Azure → GCS → Azure: a staged-block upload (no Content-MD5: verified by reading back)
    and single-shot blobs (verified by their Content-MD5), every source deleted only after its copy."""
    env = make_env()
    runner(env)
    tree = {
        "big.bin": os.urandom(9 << 20),
        "empty": b"",
        "a/b/c.txt": b"nested",
        **{f"many/{i}.dat": os.urandom(1000 + i) for i in range(5)},
    }
    populate(env, "azure", {f"proj/{k}": v for k, v in tree.items()})
    populate(env, "azure", {"proj2/stay.txt": b"not under proj"})
    hops = [
        ("azure:proj", "s3:from-az"),
        ("s3:from-az", "azure:back"),
        ("azure:back", "gcs:from-az"),
        ("gcs:from-az", "azure:home"),
    ]
    for src, dst in hops:
        end = final(env, send(env, "move", src=src, dst=dst))
        assert end.state == "done", (src, dst, end.error)
        assert end.progress["files_done"] == len(tree), (src, dst, end.progress)
        name, path = dst.split(":")
        assert snapshot(env, name, path) == tree, (src, dst)
        assert snapshot(env, *src.split(":")) == {}, (src, dst)
    assert snapshot(env, "azure", "proj2") == {"stay.txt": b"not under proj"}
