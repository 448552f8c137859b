"""The mount when things go wrong: a hung object store, a crashed agent (issue 14, points 11 and 12)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
from typing import Callable

import pytest

from warpdrive.compose.stack import S3_KEY, S3_SECRET
from warpdrive.schemas.storage import open_fs
from warpdrive.schemas.config import BackendConfig

pytestmark = [pytest.mark.services, pytest.mark.fuse]


def _outcome(fn: Callable[[], object], limit: float) -> OSError | str:
    """The OSError ``fn`` raised, run in a thread; "hung" if it did not return within ``limit``."""
    box: list[OSError | str] = []

    def run() -> None:
        try:
            fn()
            box.append("no error")
        except OSError as e:
            box.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    return box[0] if box else "hung"


def _hung_backend(kind: str, st) -> dict:
    if kind == "s3":
        return {
            "name": kind,
            "url": "s3://hung",
            "storage_options": {"endpoint_url": st.s3_endpoint, "key": S3_KEY, "secret": S3_SECRET},
        }
    return {
        "name": kind,
        "url": "gs://hung",
        "storage_options": {"endpoint_url": st.gcs_endpoint, "token": "anon", "project": "warpdrive"},
    }


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_a_hung_object_store_fails_calls_at_the_deadline(mount_agent, private_stack, kind: str) -> None:
    st = private_stack((kind,))
    b = _hung_backend(kind, st)
    fs = open_fs(BackendConfig(b["name"], b["url"], b["storage_options"]))
    fs.mkdir("hung")
    fs.pipe_file("hung/f", b"data" * 1000)
    fs.pipe_file("hung/d/g", b"g")
    # 10 s: room for the first call's session set-up on a loaded machine; the report saw 8-9.5 minutes.
    m = mount_agent(backends=[b], backend_timeout=10.0)
    mnt = m.mnt / kind
    assert (mnt / "d" / "g").read_bytes() == b"g"
    pid = st.pid(kind)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the server accepts connections but never answers
    try:

        def write_and_close() -> None:
            with open(mnt / "new", "wb") as f:
                f.write(b"x" * 100_000)

        ops = {
            "stat": lambda: os.stat(mnt / "other"),
            "read": lambda: (mnt / "f").read_bytes(),
            "listdir": lambda: os.listdir(mnt / "d"),
            "write+close": write_and_close,
        }
        # Each op fails at its first backend call's deadline (a write at its upload at close).
        outcomes = {name: _outcome(fn, 120) for name, fn in ops.items()}
        for name, got in outcomes.items():
            assert isinstance(got, OSError) and got.errno in (errno.ETIMEDOUT, errno.EIO), (name, got, m.log())
    finally:
        os.kill(pid, signal.SIGCONT)
    assert (mnt / "d" / "g").read_bytes() == b"g"  # and the mount serves again once the store answers


def test_staged_writes_of_a_crashed_agent_are_removed_at_start(mount_agent) -> None:
    m = mount_agent()
    writes = m.state / "writes"
    f = open(m.mnt / "s3" / "crash.bin", "wb")
    f.write(os.urandom(3 << 20))
    f.flush()  # in the agent's temp file now, not uploaded until close
    assert [p.name for p in writes.iterdir()] and sum(p.stat().st_size for p in writes.iterdir()) == 3 << 20
    m.procs.kill(m.name, signal.SIGKILL)  # a crash: no unmount, no cleanup
    subprocess.run(["fusermount3", "-u", "-z", str(m.mnt)], check=False)
    with contextlib.suppress(OSError):
        f.close()  # the dead mount answers ENOTCONN
    assert list(writes.iterdir()), "the crash left its temp file behind"
    m = mount_agent()  # the same state dir
    assert list(writes.iterdir()) == []
    assert not (m.mnt / "s3" / "crash.bin").exists()  # nothing half-written was uploaded
