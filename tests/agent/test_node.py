"""The agent process with Kafka: spool across a restart, hard quotas, warm commands, heartbeats."""

from __future__ import annotations

import concurrent.futures
import errno
import os
import signal
import socket
import uuid
from pathlib import Path

import pytest

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import open_fs
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import (
    AgentStatus,
    Command,
    JobEvent,
    QuotaBreach,
    TeamMembership,
    decode,
    encode,
    parse_ts,
    utc_now,
)
from warpdrive.schemas.topics import AGENT_STATUS, COMMANDS, JOB_EVENTS, QUOTA_STATE, TEAM_MEMBERSHIP

from tests.agent.conftest import blob, consume, produce
from tests.agent.test_kafka import dead_address, events_of
from tests.helpers import wait_until

pytestmark = [pytest.mark.services, pytest.mark.fuse]


def test_agent_restart_loses_no_event_spooled_during_an_outage(mount_agent, cfg: Config) -> None:
    m = mount_agent(kafka={"bootstrap_servers": dead_address()}, telemetry_sink="kafka")
    for i in range(20):
        (m.mnt / "local" / f"f{i}").write_bytes(b"x" * i)
        assert (m.mnt / "local" / f"f{i}").read_bytes() == b"x" * i
    m.stop()
    assert list((m.state / "spool").glob("*.batch")), "events were spooled while Kafka was unreachable"
    m = mount_agent(telemetry_sink="kafka")  # same state dir and node, Kafka reachable
    (m.mnt / "local" / "after").write_bytes(b"1")
    node = m.cfg.agent.node_name

    def replayed() -> bool:
        return not list((m.state / "spool").glob("*.batch"))

    wait_until(replayed, timeout=30, what="the spool replayed")
    m.stop()
    events = events_of(cfg, node, 41)
    boots = {}
    for e in events:
        boots.setdefault(e.event_id.split("/")[1], []).append(e.seq)
    first_boot = min(boots, key=lambda b: min(e.timestamp for e in events if f"/{b}/" in e.event_id))
    seqs = sorted(boots[first_boot])
    assert seqs == list(range(1, len(seqs) + 1)), "every event of the first run arrived exactly once"
    reads = {e.path for e in events if e.operation == "read" and f"/{first_boot}/" in e.event_id}
    assert reads >= {f"f{i}" for i in range(1, 20)}  # f0 is empty: nothing to read


def test_hard_quota_blocks_writes_of_the_team_only(mount_agent, cfg: Config) -> None:
    m = mount_agent()
    (m.mnt / "s3" / "q.txt").write_bytes(b"before")
    topic = QUOTA_STATE.full_name(cfg.kafka)
    # Membership comes from its topic (the workers publish the teams table there), not the agent's config.
    produce(cfg, TEAM_MEMBERSHIP.full_name(cfg.kafka), encode(TeamMembership("alice", ["vision"], utc_now())), b"alice")

    def publish(level: str, backend: str | None) -> None:
        b = QuotaBreach("vision", backend, level, "ok", 10, 5, 8, utc_now())
        produce(cfg, topic, encode(b), f"vision/{backend or '*'}".encode())

    publish("hard", "s3")

    def blocked() -> bool:
        try:
            (m.mnt / "s3" / "q2.txt").write_bytes(b"x")
            return False
        except OSError as e:
            assert e.errno == errno.EDQUOT, e
            return True

    wait_until(blocked, timeout=20, what="EDQUOT on s3 for alice (team vision)", explain=lambda: m.log())
    with pytest.raises(OSError) as e:
        with open(m.mnt / "s3" / "q.txt", "ab") as f:
            f.write(b"more")
    assert e.value.errno == errno.EDQUOT
    assert (m.mnt / "s3" / "q.txt").read_bytes() == b"before"  # reads are never blocked
    (m.mnt / "local" / "ok.txt").write_bytes(b"other backends are fine")
    publish("ok", "s3")
    publish("hard", None)  # all backends
    wait_until(
        lambda: _fails(lambda: (m.mnt / "local" / "ok2.txt").write_bytes(b"y")),
        timeout=20,
        what="EDQUOT on every backend",
    )
    publish("ok", None)
    wait_until(
        lambda: not _fails(lambda: (m.mnt / "s3" / "q3.txt").write_bytes(b"z")), timeout=20, what="writes allowed again"
    )


def _fails(fn) -> bool:
    try:
        fn()
        return False
    except OSError as e:
        assert e.errno == errno.EDQUOT
        return True


def test_warm_prefetches_reports_progress_and_heartbeats(mount_agent, cfg: Config) -> None:
    m = mount_agent()
    fs, root = m.backend("s3")
    files = {f"warm/{i}.bin": blob(1_200_000) for i in range(4)}
    for rel, data in files.items():
        fs.pipe_file(f"{root}/{rel}", data)
    node = m.cfg.agent.node_name
    cmd = Command(f"warm-{uuid.uuid4().hex[:8]}", "warm", utc_now(), {"backend": "s3", "path": "warm"}, target=node)
    produce(cfg, COMMANDS.full_name(cfg.kafka), encode(cmd), node.encode())

    def done(msgs: list) -> bool:
        return any(
            decode(x.value, JobEvent).state in ("done", "failed") for x in msgs if x.key == cmd.command_id.encode()
        )

    msgs = [
        decode(x.value, JobEvent)
        for x in consume(cfg, JOB_EVENTS.full_name(cfg.kafka), done)
        if x.key == cmd.command_id.encode()
    ]
    final = msgs[-1]
    assert final.state == "done", final.error
    assert final.node_host == node and final.progress["files"] == 4
    assert final.progress["bytes"] == final.progress["bytes_fetched"] == sum(map(len, files.values()))

    def status(msgs: list) -> AgentStatus | None:
        mine = [decode(x.value, AgentStatus) for x in msgs if x.key == node.encode()]
        return mine[-1] if mine and mine[-1].jobs.get(cmd.command_id, {}).get("state") == "done" else None

    st = status(consume(cfg, AGENT_STATUS.full_name(cfg.kafka), lambda ms: status(ms) is not None))
    assert st is not None
    assert st.cache["bytes"] >= sum(map(len, files.values()))
    assert set(st.backends) == {"local", "s3", "gcs", "azure"} and all(b["reachable"] for b in st.backends.values())
    assert st.mounts[0]["mountpoint"] == str(m.mnt) and "queue_depth" in st.telemetry

    # Warmed blocks are real cache hits for the first read through the mount.
    for rel, data in files.items():
        assert (m.mnt / "s3" / rel).read_bytes() == data
    reads = m.wait_events(
        lambda ev: (
            [e for e in ev if e["operation"] == "read" and e["path"].startswith("warm/")][3:]
            and [e for e in ev if e["operation"] == "read" and e["path"].startswith("warm/")]
        ),
        "reads of the warmed files",
    )
    assert all(e["cache_hit"] for e in reads), reads


def heartbeats_since(cfg: Config, node: str, since: str, check, what: str, timeout: float = 45) -> list[AgentStatus]:
    """The node's heartbeats stamped after ``since``, read until ``check`` holds for them."""

    def mine(msgs: list) -> list[AgentStatus]:
        beats = [decode(x.value, AgentStatus) for x in msgs if x.key == node.encode()]
        return [b for b in beats if parse_ts(b.timestamp) > parse_ts(since)]

    try:
        return mine(consume(cfg, AGENT_STATUS.full_name(cfg.kafka), lambda ms: check(mine(ms)), timeout))
    except pytest.fail.Exception as e:
        pytest.fail(f"{what}: {e}")


def test_heartbeat_reports_a_hung_or_dead_backend_and_its_return(
    mount_agent, cfg: Config, private_stack, agent_config_dict: dict, tmp_path: Path
) -> None:
    st = private_stack(("s3",))  # its own S3 server, to freeze and kill
    shared = next(b for b in agent_config_dict["backends"] if b["name"] == "s3")
    s3 = {
        **shared,
        "url": "s3://probe",
        "storage_options": {**shared["storage_options"], "endpoint_url": st.s3_endpoint},
    }
    local = tmp_path / "local-data"
    local.mkdir()
    (local / "f.txt").write_bytes(b"local")
    backends = [{"name": "local", "url": f"file://{local}"}, s3]
    fs = open_fs(wconfig.from_dict({**agent_config_dict, "backends": backends}).backend("s3"))
    fs.mkdir("probe")
    fs.pipe_file("probe/d/a.txt", b"a")
    started = utc_now()
    m = mount_agent(backends=backends)
    node = m.cfg.agent.node_name

    def reachable(b: AgentStatus, name: str) -> bool:
        return b.backends[name]["reachable"]

    heartbeats_since(
        cfg, node, started, lambda bs: any(reachable(b, "local") and reachable(b, "s3") for b in bs), "both reachable"
    )

    # A frozen server accepts connections and never answers: the worst kind of outage for a probe.
    st.kill("s3", signal.SIGSTOP)
    frozen = utc_now()
    lister = concurrent.futures.ThreadPoolExecutor(1)
    listing = lister.submit(os.listdir, m.mnt / "s3" / "d")  # hangs in the agent with the server
    try:
        # The other backend is still served, for reads and writes, while one is hung.
        assert (m.mnt / "local" / "f.txt").read_bytes() == b"local"
        (m.mnt / "local" / "g.txt").write_bytes(b"written")
        assert (local / "g.txt").read_bytes() == b"written"
        # Heartbeats keep coming at their interval, each saying the hung backend is down and the other up
        # (a probe waiting on the hung one would delay them, and leaked probe threads would starve the rest).
        beats = heartbeats_since(
            cfg,
            node,
            frozen,
            lambda bs: len([b for b in bs if not reachable(b, "s3")]) >= 8,
            "8 heartbeats saying s3 is unreachable",
            timeout=40,
        )
        down = [b for b in beats if not reachable(b, "s3")]
        assert all(reachable(b, "local") for b in beats), [b.backends for b in beats]
        assert "no answer" in down[-1].backends["s3"]["error"], down[-1].backends
        assert not listing.done()
    finally:
        st.kill("s3", signal.SIGCONT)
    assert listing.result(60) == ["a.txt"]  # the hung call completes when the server answers again
    lister.shutdown()
    thawed = utc_now()
    heartbeats_since(cfg, node, thawed, lambda bs: any(reachable(b, "s3") for b in bs), "s3 reachable again")

    st.kill("s3", signal.SIGKILL)  # now nothing listens: connections are refused
    dead = utc_now()
    beats = heartbeats_since(cfg, node, dead, lambda bs: any(not reachable(b, "s3") for b in bs), "s3 down")
    assert all(reachable(b, "local") for b in beats)

    # A local backend whose directory disappears is unreachable too, and reachable when it is back.
    local.rename(tmp_path / "moved")
    gone = utc_now()
    beats = heartbeats_since(cfg, node, gone, lambda bs: any(not reachable(b, "local") for b in bs), "local down")
    assert beats[-1].backends["local"]["error"].startswith("ENOENT"), beats[-1].backends
    (tmp_path / "moved").rename(local)
    back = utc_now()
    heartbeats_since(cfg, node, back, lambda bs: any(reachable(b, "local") for b in bs), "local reachable again")
    assert (m.mnt / "local" / "f.txt").read_bytes() == b"local"

    # Stopping while a call hangs: a server on the S3 port that accepts connections and never answers.
    with (
        socket.create_server(("127.0.0.1", int(st.s3_endpoint.rsplit(":", 1)[1]))) as server,
        concurrent.futures.ThreadPoolExecutor(1) as lister,
    ):
        server.settimeout(30)
        listing = lister.submit(os.listdir, m.mnt / "s3" / "d")
        # Two calls in flight: the heartbeat's probe (one at a time) and the listing's.
        held = [server.accept()[0] for _ in range(2)]
        agent = m.procs.procs[m.name]
        m.stop()  # SIGTERM, then SIGKILL after 20 s
        assert agent.returncode == 0, m.log()  # the hung call was abandoned after the grace period
        assert not os.path.ismount(m.mnt)
        with pytest.raises(OSError):
            listing.result(10)  # its caller gets an error, not a hang
        for conn in held:
            conn.close()
    assert any("ECANCELED" in (e["error"] or "") for e in m.events() if e["backend_name"] == "s3"), m.events()[-5:]
