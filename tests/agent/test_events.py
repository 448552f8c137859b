"""Every operation through a real mount yields the right event (file sink): user, path, op, bytes, cache_hit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.agent.conftest import blob

pytestmark = [pytest.mark.services, pytest.mark.fuse]


def _drop_page_cache(path) -> None:
    """Makes the next read go to the file system again (the kernel would serve it from its page cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_every_operation_is_an_event(mount_agent) -> None:
    m = mount_agent()
    d = m.mnt / "s3" / "ev"
    d.mkdir()
    payload = blob(300_000)
    (d / "f.bin").write_bytes(payload)
    assert (d / "f.bin").read_bytes() == payload
    os.listdir(d)
    os.stat(d / "f.bin")
    os.rename(d / "f.bin", d / "g.bin")
    os.unlink(d / "g.bin")
    os.rmdir(d)

    def have(ev: list[dict]) -> dict[str, dict]:
        ops = {}
        for e in ev:
            if e["backend_name"] == "s3" and e["path"].startswith("ev") and not e["error"]:
                ops.setdefault(e["operation"], e)
        return (
            ops
            if {"mkdir", "create", "write", "read", "list", "stat", "rename", "unlink", "rmdir"} <= ops.keys()
            else {}
        )

    ops = m.wait_events(have, "one event of every operation")
    assert all(
        e["user_id"] == "alice" and e["uid"] == 0 and e["node_host"] == m.cfg.agent.node_name for e in ops.values()
    )
    assert ops["create"]["path"] == ops["write"]["path"] == "ev/f.bin"
    assert ops["rename"]["path"] == "ev/f.bin" and ops["unlink"]["path"] == "ev/g.bin"
    assert ops["list"]["path"] == "ev" and ops["mkdir"]["path"] == ops["rmdir"]["path"] == "ev"
    writes = [e for e in m.events() if e["operation"] == "write" and e["path"] == "ev/f.bin"]
    reads = [e for e in m.events() if e["operation"] == "read" and e["path"] == "ev/f.bin"]
    assert sum(e["bytes_written"] for e in writes) == len(payload)
    assert sum(e["bytes_read"] for e in reads) == len(payload)
    assert all(e["bytes_read"] == 0 for e in writes) and all(e["bytes_written"] == 0 for e in reads)
    ids = [e["event_id"] for e in m.events()]
    assert len(set(ids)) == len(ids) and all(i.startswith(m.cfg.agent.node_name + "/") for i in ids)


def test_reads_are_coalesced_and_cache_hits_are_real(mount_agent) -> None:
    m = mount_agent(flush_interval=3.0)  # the whole read takes well under one window
    fs, root = m.backend("gcs")
    size = 5 * (1 << 20) + 99
    data = blob(size)
    fs.pipe_file(f"{root}/co/big.bin", data)
    path = m.mnt / "gcs" / "co" / "big.bin"
    with open(path, "rb", buffering=0) as f:
        while f.read(128 * 1024):
            pass
    first = m.wait_events(
        lambda ev: [e for e in ev if e["operation"] == "read" and e["path"] == "co/big.bin"], "the read event"
    )
    assert len(first) == 1, first  # dozens of FUSE reads, one event
    (e,) = first
    assert e["count"] > 5 and e["bytes_read"] == size and e["cache_hits"] == 0 and e["cache_hit"] is False
    assert e["first_timestamp"] <= e["timestamp"] and e["latency_max_ms"] >= e["latency_ms"] > 0

    _drop_page_cache(path)  # (its open and close is itself an access: an event without bytes)
    assert path.read_bytes() == data

    def reads(ev: list[dict]) -> list[dict]:
        return [e for e in ev if e["operation"] == "read" and e["path"] == "co/big.bin"]

    second = m.wait_events(lambda ev: [e for e in reads(ev) if e["bytes_read"]][1:], "the second read event")
    assert second[0]["cache_hit"] is True and second[0]["cache_hits"] == second[0]["count"]
    assert second[0]["bytes_read"] == size

    # Unchanged and in the kernel's page cache: (almost) no FUSE read, but the access is still an event.
    before = len(reads(m.events()))
    assert path.read_bytes() == data
    third = m.wait_events(lambda ev: reads(ev)[before:], "the page-cache read event")
    assert third[0]["cache_hit"] is True and third[0]["count"] >= 1 and third[0]["bytes_read"] < size

    # The object changes behind the mount's back (same size): the cache must not serve the old bytes.
    changed = blob(size)
    fs.pipe_file(f"{root}/co/big.bin", changed)
    m.wait_events(lambda ev: path.read_bytes() == changed, "the changed object through the mount", timeout=10)
    m.wait_events(
        lambda ev: [e for e in reads(ev) if e["bytes_read"] == size and not e["cache_hit"]][1:],
        "a whole read of the changed object, from the backend",
    )


def test_identity_comes_from_the_caller(mount_agent) -> None:
    m = mount_agent()
    (m.mnt / "local" / "shared.txt").write_bytes(b"for everyone")
    # uid 1000 reads it in a child process; USERS maps 1000 to bob.
    code = f"import os; os.setgid(1000); os.setuid(1000); print(open({str(m.mnt / 'local' / 'shared.txt')!r}).read())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "for everyone", out.stderr
    ev = m.wait_events(
        lambda ev: [e for e in ev if e["operation"] == "read" and e["path"] == "shared.txt"], "bob's read"
    )
    assert ev[0]["user_id"] == "bob" and ev[0]["uid"] == 1000 and ev[0]["bytes_read"] == 12
    creates = [e for e in m.events() if e["operation"] == "create" and e["path"] == "shared.txt"]
    assert creates[0]["user_id"] == "alice"
