"""Warms observed in real agents' caches: `warpdrive-ctl warm --wait` and `status` against mounted agents,
the real stream workers (job events → jobs, heartbeats → agents) and the real API."""

from __future__ import annotations

import csv
import io
import json
import tomllib
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from warpdrive.schemas.units import format_size

from tests.agent.conftest import Mounted, blob, write_config
from tests.cli.support import Db, object_stores, ok, put_files
from tests.helpers import Procs, wait_until

pytestmark = [pytest.mark.services, pytest.mark.fuse]


@pytest.fixture
def mount(cli_stack, workers: Procs, procs: Procs, tmp_path: Path) -> Iterator[Callable[[str], Mounted]]:
    """Mounts agents with the CLI tests' config, so they run the warm jobs the API publishes."""
    base = tomllib.loads(cli_stack.config_path.read_text())
    started: list[Mounted] = []

    def start(name: str) -> Mounted:
        state, mnt = tmp_path / f"state-{name}", tmp_path / f"mnt-{name}"
        state.mkdir()
        mnt.mkdir()
        node = f"cli-{name}-{uuid.uuid4().hex[:8]}"
        m = Mounted(procs, write_config(base, tmp_path / f"agent-{name}.toml", state, node), mnt, state)
        started.append(m)
        return m.start()

    try:
        yield start
    finally:
        for m in started:
            m.stop()


def test_warm_fills_the_agents_caches_as_status_shows(ctl, db: Db, cli_stack, mount) -> None:
    # (db: no agent rows of earlier tests, which --wait would count as live agents to wait for)
    (s3, s3_root), _ = object_stores(cli_stack.config_path)  # the bucket exists before any agent looks
    prefix = f"cli-warm-{uuid.uuid4().hex[:8]}"
    files = {f"d/f{i}.bin": blob(1_200_000) for i in range(4)}  # two 1 MiB cache blocks each
    total = sum(map(len, files.values()))
    put_files(s3, f"{s3_root}/{prefix}", files)
    a, b = mount("a"), mount("b")
    node_a, node_b = a.cfg.agent.node_name, b.cfg.agent.node_name

    def agents() -> dict[str, dict[str, Any]]:
        doc = json.loads(ok(ctl("status", "--format", "json")))
        return {x["node_host"]: x for x in doc["agents"] if x["alive"] and x["node_host"] in (node_a, node_b)}

    def reported(node: str, job_id: str) -> dict[str, Any] | None:
        """The node's status once its heartbeat says the job ended."""
        st = (agents().get(node) or {}).get("status") or {}
        return st if (st.get("jobs") or {}).get(job_id, {}).get("state") == "done" else None

    try:
        before = wait_until(
            lambda: len(agents()) == 2 and agents(),
            60,
            what="both agents' heartbeats in `status`",
            explain=lambda: a.log() + b.log(),
        )
        cache_a, cache_b = (before[n]["status"]["cache"]["bytes"] for n in (node_a, node_b))

        # One node: its cache fills, the other's does not.
        out = ok(ctl("warm", f"s3:{prefix}/", "--node", node_a, "--wait"))
        lines = out.splitlines()
        job_id = lines[0].split()[1]
        # The agent's own progress, through JobEvents folded into the job by the stream workers.
        assert lines[-1] == (
            f"job {job_id} done 100%: {format_size(total)}/{format_size(total)}, 4/4 files, "
            f"bytes_fetched={format_size(total)}"
        ), out
        st = wait_until(lambda: reported(node_a, job_id), 30, what="a heartbeat reporting the finished warm")
        assert st["cache"]["bytes"] - cache_a >= total and st["cache"]["blocks"] >= 2 * len(files)
        assert (
            st["jobs"][job_id]
            | {"state": "done", "path": f"s3:{prefix}", "files": 4, "bytes": total, "bytes_fetched": total}
            == st["jobs"][job_id]
        )
        assert (
            agents()[node_b]["status"]["cache"]["bytes"] == cache_b and job_id not in agents()[node_b]["status"]["jobs"]
        )

        row = next(l for l in ok(ctl("status")).splitlines() if l.startswith(node_a))
        assert "yes" in row and str(a.mnt) in row and " done" in row, row
        rows = [
            r for r in csv.DictReader(io.StringIO(ok(ctl("status", "--format", "csv")))) if r["node_host"] == node_a
        ]
        assert int(rows[0]["cache_bytes"]) - cache_a >= total and int(rows[0]["cache_blocks"]) >= 2 * len(files)
        assert format_size(int(rows[0]["cache_bytes"])) in row  # the table shows the same cache, human-sized

        # Every agent: --wait follows each node to its end; node a has it all already, node b fetches it all.
        r = ctl("warm", f"s3:{prefix}", "--wait", "--format", "json")
        job = json.loads(ok(r))
        assert job["state"] == "done" and set(job["nodes"]) == {node_a, node_b}
        assert [
            (job["nodes"][n]["state"], job["nodes"][n]["files"], job["nodes"][n]["bytes_fetched"])
            for n in (node_a, node_b)
        ] == [("done", 4, 0), ("done", 4, total)]
        assert f"node {node_b} done: " in r.stderr  # progress on stderr: stdout stays JSON
        st = wait_until(lambda: reported(node_b, job["job_id"]), 30, what="node b's heartbeat after the warm")
        assert st["cache"]["bytes"] - cache_b >= total

        # The warmed blocks serve the first read through the mount.
        for rel, data in files.items():
            assert (b.mnt / "s3" / prefix / rel).read_bytes() == data
        wait_until(
            lambda: (agents().get(node_b) or {}).get("status", {}).get("cache", {}).get("hits", 0) >= 2 * len(files),
            30,
            what="cache hits in `status`",
        )
    finally:
        s3.rm(f"{s3_root}/{prefix}", recursive=True)
