"""Real mounts over the local dir, the S3 server and the GCS emulator: what the mount shows is the backend."""

from __future__ import annotations

import errno
import os
import random
import threading
from pathlib import Path

import pytest

from tests.agent.conftest import blob

pytestmark = [pytest.mark.services, pytest.mark.fuse]

BACKENDS = ["local", "s3", "gcs", "azure"]


def _seed(fs, root: str, base: str) -> dict[str, bytes]:
    """Files put on the backend directly (not through the mount)."""
    rnd = random.Random(base)
    files = {
        f"{base}/big.bin": blob(3 * (1 << 20) + 12345, rnd),  # several 1 MiB cache blocks
        f"{base}/dir/a.txt": b"alpha\n",
        f"{base}/dir/sub/b.txt": b"beta" * 1000,
        f"{base}/spaces and ünïcode #%.txt": b"odd",
        f"{base}/empty": b"",
    }
    for rel, data in files.items():
        fs.makedirs(os.path.dirname(f"{root}/{rel}"), exist_ok=True)
        fs.pipe_file(f"{root}/{rel}", data)
    return files


@pytest.mark.parametrize("name", BACKENDS)
def test_contents_and_metadata_equal_the_backend(mount_agent, name: str) -> None:
    m = mount_agent()
    fs, root = m.backend(name)
    files = _seed(fs, root, "seed")
    mnt = m.mnt / name
    assert sorted(os.listdir(m.mnt)) == sorted(BACKENDS)
    assert sorted(os.listdir(mnt / "seed")) == sorted({p.split("/")[1] for p in files})
    assert os.listdir(mnt / "seed" / "dir" / "sub") == ["b.txt"]
    assert (mnt / "seed" / "dir").is_dir() and (mnt / "seed" / "dir" / "sub").is_dir()  # prefixes are dirs
    for rel, data in files.items():
        p = mnt / rel
        assert p.stat().st_size == len(data) == fs.info(f"{root}/{rel}")["size"], rel
        assert p.read_bytes() == data, rel
    big = files["seed/big.bin"]
    rnd = random.Random(1)
    with open(mnt / "seed/big.bin", "rb") as f:
        for _ in range(50):
            off, n = rnd.randrange(len(big) + 100), rnd.randrange(1, 300_000)
            assert os.pread(f.fileno(), n, off) == big[off : off + n]
        assert os.pread(f.fileno(), 10, 1 << 62) == b""  # a huge offset is just past the end


@pytest.mark.parametrize("name", BACKENDS)
def test_writes_reach_the_backend(mount_agent, name: str) -> None:
    m = mount_agent()
    fs, root = m.backend(name)
    mnt = m.mnt / name
    (mnt / "w").mkdir()
    (mnt / "w" / "d").mkdir()
    payload = blob(2 * (1 << 20) + 7)
    (mnt / "w" / "d" / "f.bin").write_bytes(payload)
    assert fs.cat_file(f"{root}/w/d/f.bin") == payload
    with open(mnt / "w" / "d" / "f.bin", "r+b") as f:  # in-place change of an existing object
        f.seek(10)
        f.write(b"XYZ")
    assert fs.cat_file(f"{root}/w/d/f.bin") == payload[:10] + b"XYZ" + payload[13:]
    with open(mnt / "w" / "d" / "f.bin", "ab") as f:
        f.write(b"tail")
    assert fs.cat_file(f"{root}/w/d/f.bin").endswith(b"tail")
    os.truncate(mnt / "w" / "d" / "f.bin", 5)
    assert fs.cat_file(f"{root}/w/d/f.bin") == payload[:5]
    (mnt / "w" / "new.txt").touch()
    assert fs.cat_file(f"{root}/w/new.txt") == b""
    os.rename(mnt / "w" / "d" / "f.bin", mnt / "w" / "g.bin")
    assert not fs.exists(f"{root}/w/d/f.bin") and fs.cat_file(f"{root}/w/g.bin") == payload[:5]
    assert (mnt / "w" / "g.bin").read_bytes() == payload[:5]
    with pytest.raises(OSError) as e:
        os.rmdir(mnt / "w")
    assert e.value.errno == errno.ENOTEMPTY
    os.unlink(mnt / "w" / "g.bin")
    os.unlink(mnt / "w" / "new.txt")
    os.rmdir(mnt / "w" / "d")
    assert not fs.exists(f"{root}/w/g.bin")
    assert sorted(os.listdir(mnt / "w")) == []
    os.rmdir(mnt / "w")
    assert "w" not in os.listdir(mnt)


def test_errors_become_errnos_and_never_crash(mount_agent) -> None:
    m = mount_agent()
    cases = [
        (lambda: open(m.mnt / "s3" / "missing", "rb"), errno.ENOENT),
        (lambda: open(m.mnt / "nobackend" / "x", "wb"), errno.ENOENT),
        (lambda: os.rename(m.mnt / "local" / "a", m.mnt / "s3" / "a"), errno.EXDEV),
        (lambda: open(m.mnt / "s3" / ("n" * 300), "wb"), errno.ENAMETOOLONG),
        (lambda: open(os.fsencode(str(m.mnt / "s3")) + b"/bad\xff", "wb"), errno.EINVAL),
        (lambda: os.mkdir(m.mnt / "new-backend"), errno.EACCES),
    ]
    (m.mnt / "local" / "a").write_bytes(b"1")
    for fn, code in cases:
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == code, (fn, e.value)
    # Non-UTF-8 names are fine on a POSIX backend, '..' resolves, and the mount still works.
    odd = os.fsencode(str(m.mnt / "local")) + b"/caf\xe9"
    with open(odd, "wb") as f:
        f.write(b"latin-1 name")
    assert Path(m.cfg.backend("local").url[len("file://") :], os.fsdecode(b"caf\xe9")).read_bytes() == b"latin-1 name"
    assert (m.mnt / "local" / ".." / "local" / "a").read_bytes() == b"1"
    assert os.path.ismount(m.mnt) and sorted(os.listdir(m.mnt)) == sorted(BACKENDS)
    m.wait_events(
        lambda ev: [
            e
            for e in ev
            if e["backend_name"] == "s3" and e["path"] == "missing" and (e["error"] or "").startswith("ENOENT")
        ],
        "the ENOENT recorded in an event",
    )
    m.wait_events(
        lambda ev: [e for e in ev if e["operation"] == "write" and e["path"] == "caf\\xe9"],
        "the write of a non-UTF-8 name, its odd byte escaped",
    )


def test_concurrent_handles(mount_agent) -> None:
    m = mount_agent()
    fs, root = m.backend("s3")
    blobs = {f"c/{i}.bin": blob(1_500_000 + i) for i in range(8)}
    for rel, data in blobs.items():
        fs.pipe_file(f"{root}/{rel}", data)
    results: dict[str, bytes] = {}
    handles = {rel: open(m.mnt / "s3" / rel, "rb") for rel in blobs}  # all open at once

    def read(rel: str) -> None:
        out, f = [], handles[rel]
        while chunk := f.read(65536):
            out.append(chunk)
        results[rel] = b"".join(out)

    threads = [threading.Thread(target=read, args=(rel,)) for rel in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for f in handles.values():
        f.close()
    assert results == blobs


def test_read_only_mount_reads_and_records_but_refuses_writes(mount_agent) -> None:
    m = mount_agent(read_only=True)
    fs, root = m.backend("local")
    data = blob(1_100_000)
    fs.makedirs(f"{root}/ro", exist_ok=True)
    fs.pipe_file(f"{root}/ro/f.bin", data)
    f = m.mnt / "local" / "ro" / "f.bin"
    for _ in range(3):  # the first close answers FLUSH with ENOSYS; later closes send none
        assert f.read_bytes() == data
    for fn in (
        lambda: open(f, "r+b"),
        lambda: open(m.mnt / "local" / "ro" / "new", "wb"),
        lambda: os.mkdir(m.mnt / "local" / "ro" / "d"),
        lambda: os.unlink(f),
    ):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EROFS
    assert fs.cat_file(f"{root}/ro/f.bin") == data and fs.ls(f"{root}/ro", detail=False) == [f"{root}/ro/f.bin"]
    reads = m.wait_events(
        lambda ev: (
            [e for e in ev if e["operation"] == "read" and e["path"] == "ro/f.bin"][2:]
            and [e for e in ev if e["operation"] == "read" and e["path"] == "ro/f.bin"]
        ),
        "one read event per open",
    )
    assert len(reads) == 3 and sum(e["bytes_read"] for e in reads) >= len(data)
