"""The agent's /metrics (agent.metrics_listen): Prometheus text whose counters move as a real mount is read."""

from __future__ import annotations

import os

import pytest

from tests.agent.conftest import blob
from tests.helpers import metric_sum, scrape, wait_until
from warpdrive.compose.stack import free_port

pytestmark = [pytest.mark.services, pytest.mark.fuse]


def test_agent_metrics_move_as_the_mount_is_read(mount_agent) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    m = mount_agent(metrics_listen=f"127.0.0.1:{port}")
    fs, root = m.backend("s3")  # object stores read through the block cache
    data = blob(3 << 20)
    fs.makedirs(f"{root}/m", exist_ok=True)
    fs.pipe_file(f"{root}/m/big.bin", data)
    before = scrape(url)
    assert metric_sum(before, "warpdrive_agent_backend_errors_total") == 0

    path = m.mnt / "s3" / "m" / "big.bin"
    assert path.read_bytes() == data
    with open(path, "rb") as f:  # drop the kernel's copy: the next read asks the agent, which has the blocks
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    assert path.read_bytes() == data

    def moved() -> dict[str, float] | None:
        s = scrape(url)
        return (
            s
            if metric_sum(s, "warpdrive_agent_events_sent_total")
            > metric_sum(before, "warpdrive_agent_events_sent_total")
            else None
        )

    after = wait_until(moved, 30, what="events sent to move", explain=m.log)
    assert isinstance(after, dict)
    assert metric_sum(after, "warpdrive_agent_events_recorded_total") > metric_sum(
        before, "warpdrive_agent_events_recorded_total"
    )
    assert metric_sum(after, "warpdrive_agent_cache_misses_total") >= 3  # three 1 MiB blocks fetched once
    assert metric_sum(after, "warpdrive_agent_cache_hits_total") >= 1, after
    assert metric_sum(after, "warpdrive_agent_cache_bytes") >= len(data)
    assert metric_sum(after, "warpdrive_agent_events_dropped_total") == 0
    assert metric_sum(after, "warpdrive_agent_backend_up", backend="s3") == 1
    assert "warpdrive_agent_spool_bytes" in after and "warpdrive_agent_queue_depth" in after
