"""Hard quotas end to end: warpdrive-ctl → API → workers → Kafka → two real mounted agents.

Every path that changes who may write is driven through the product itself (quota set, raise, delete;
team membership added and removed), and both agents must enforce it within seconds: EDQUOT on
creates and writes by the team's members, reads and deletes still allowed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner

from tests.agent.conftest import Mounted
from tests.helpers import Procs, wait_until
from tests.streams.events import crawl
from warpdrive.cli.main import cli
from warpdrive.schemas.config import Config, dump_toml
from warpdrive.schemas.topics import QUOTA_STATE

pytestmark = [pytest.mark.services, pytest.mark.fuse]

BOB = 1000  # uid 1000 is bob (team nlp in the seed); the test process itself (root) is alice (team vision)
GB = 1000**3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def control_plane(agent_config_dict: dict, procs: Procs, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """The API and a stream worker on the agents' config; yields ``ctl(*args)`` → stdout (must succeed)."""
    port = _free_port()
    conf = tmp_path / "control-plane.toml"
    (tmp_path / "cp-state").mkdir()
    conf.write_text(
        dump_toml(
            {
                **agent_config_dict,
                "state_dir": str(tmp_path / "cp-state"),
                "api": {"listen": f"127.0.0.1:{port}", "insecure_no_auth": True},
            }
        )
    )
    env = {"WARPDRIVE_CONFIG": str(conf)}
    procs.start("streams", "streams", "worker", env=env)
    api = procs.start("api", "api", "serve", env=env)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200 or api.poll() is not None
        except httpx.HTTPError:
            return api.poll() is not None

    wait_until(ready, 60, what="the API", explain=lambda: procs.tail("api"))
    assert api.poll() is None, procs.log("api")

    def ctl(*args: str) -> str:
        r = CliRunner().invoke(
            cli, ["--control-plane", url, *args], env={"WARPDRIVE_TOKEN": None, "WARPDRIVE_CONFIG": None}
        )
        assert r.exit_code == 0, f"warpdrive-ctl {' '.join(args)}: exit {r.exit_code}: {r.output}"
        return r.stdout

    yield ctl


def _write(path: Path, uid: int = 0) -> int:
    """Creates/overwrites ``path`` as ``uid``; 0 on success, else the errno."""
    if uid == 0:
        try:
            path.write_bytes(b"data")
            return 0
        except OSError as e:
            return e.errno or -1
    # The interpreter starts as root (uid 1000 cannot reach it) and drops to the uid before the write.
    code = (
        f"import os, sys\nos.setgid({uid}); os.setuid({uid})\ntry:\n    open(sys.argv[1], 'wb').write(b'data')\n"
        "except OSError as e:\n    sys.exit(e.errno)\n"
    )
    return subprocess.run([sys.executable, "-c", code, str(path)], timeout=30).returncode


def _state_tombstone(cfg: Config, key: bytes) -> bool:
    """A foreign consumer (plain aiokafka) reads the quota-state topic from the beginning: does ``key``'s
    latest record say the quota is gone (a tombstone)?"""

    async def run() -> bool:
        c = AIOKafkaConsumer(**cfg.kafka.client_options(), enable_auto_commit=False)
        await c.start()
        try:
            tp = TopicPartition(QUOTA_STATE.full_name(cfg.kafka), 0)  # the state topic has one partition
            c.assign([tp])
            await c.seek_to_beginning(tp)
            end = (await c.end_offsets([tp]))[tp]
            latest: dict[bytes, bytes | None] = {}
            while await c.position(tp) < end:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    latest.update((r.key, r.value) for r in recs)
            return key in latest and latest[key] is None
        finally:
            await c.stop()

    return asyncio.run(run())


def test_hard_quota_follows_quota_and_team_changes_on_two_agents(
    mount_agent, control_plane, cfg: Config, procs: Procs
) -> None:
    ctl = control_plane
    agents: list[Mounted] = [mount_agent("a"), mount_agent("b")]
    run = uuid.uuid4().hex[:6]
    for m in agents:  # a file each, to read and delete while blocked
        (m.mnt / "s3" / f"keep-{run}-{m.mnt.name}").write_bytes(b"kept")
    # 10 GB owned by alice (team vision) on s3, as a crawl of a prefix of its own reports it.
    crawl(
        cfg,
        f"bulk-{run}",
        "s3",
        {f"bulk-{run}/big": {"size_bytes": 10 * GB, "owner_user": "alice"}},
        prefix=f"bulk-{run}/",
    )

    def every_agent(uid: int, want: int, what: str) -> None:
        for m in agents:
            p = m.mnt / "s3" / f"w-{uid}-{uuid.uuid4().hex[:6]}"
            wait_until(
                lambda: _write(p, uid) == want,
                20,
                what=f"{what} on agent {m.mnt.name}",
                explain=lambda: m.log() + "\n--- streams:\n" + procs.tail("streams", 60),
            )

    out = ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "4GB", "--hard", "5GB")
    assert out.strip() == "quota for team vision on s3: 4.00 GB / 5.00 GB (soft / hard)"
    every_agent(0, errno.EDQUOT, "alice refused (team vision over its hard limit on s3)")
    for m in agents:
        kept = m.mnt / "s3" / f"keep-{run}-{m.mnt.name}"
        assert kept.read_bytes() == b"kept"  # reads still work
        with pytest.raises(OSError) as e:
            with open(kept, "ab") as f:
                f.write(b"more")
        assert e.value.errno == errno.EDQUOT  # so do extensions
        kept.unlink()  # and deletes
        assert not kept.exists()
        assert _write(m.mnt / "local" / f"other-{run}") == 0  # the quota is on s3 only
    every_agent(BOB, 0, "bob (team nlp) allowed")

    ctl("teams", "set", "bob", "vision")
    every_agent(BOB, errno.EDQUOT, "bob refused once added to team vision")
    ctl("teams", "delete", "bob", "vision")
    every_agent(BOB, 0, "bob allowed once removed from team vision")

    ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "40GB", "--hard", "50GB")
    every_agent(0, 0, "alice allowed after the quota was raised")

    # A quota over all backends (backend omitted) blocks every backend.
    ctl("quota", "set", "--team", "vision", "--soft", "1GB", "--hard", "2GB")
    every_agent(0, errno.EDQUOT, "alice refused on s3 by the all-backends quota")
    for m in agents:
        wait_until(
            lambda: _write(m.mnt / "local" / f"all-{uuid.uuid4().hex[:6]}") == errno.EDQUOT,
            20,
            what="alice refused on local by the all-backends quota",
        )
    ctl("quota", "delete", "--team", "vision")
    every_agent(0, 0, "alice allowed after the all-backends quota was deleted")
    wait_until(lambda: _state_tombstone(cfg, b"vision/*"), 20, what="a tombstone for vision/* on the state topic")

    # Lowered again and deleted: allowed, and a foreign consumer sees the tombstone.
    ctl("quota", "set", "--team", "vision", "--backend", "s3", "--soft", "4GB", "--hard", "5GB")
    every_agent(0, errno.EDQUOT, "alice refused again")
    ctl("quota", "delete", "--team", "vision", "--backend", "s3")
    every_agent(0, 0, "alice allowed after the quota was deleted")
    wait_until(lambda: _state_tombstone(cfg, b"vision/s3"), 20, what="a tombstone for vision/s3 on the state topic")
    assert os.path.ismount(agents[0].mnt) and os.path.ismount(agents[1].mnt)
