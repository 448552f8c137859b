"""The mount's stated semantics (docs/mount.md), one reproduction per point of issue 14.

Each test changes the namespace or the backend the way a user or another node would and checks what
the mount shows and what lands on the backend. Real mounts over the local dir, the S3 server and the
GCS emulator.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.agent.conftest import blob

pytestmark = [pytest.mark.services, pytest.mark.fuse]

BACKENDS = ["local", "s3", "gcs"]


def area(m, name: str) -> tuple[Path, object, str]:
    """A fresh directory of the backend for one test (the session's backends are shared): its path
    through the mount, the backend's file system and the directory's path on it."""
    fs, root = m.backend(name)
    base = f"t-{uuid.uuid4().hex[:8]}"
    (m.mnt / name / base).mkdir()
    return m.mnt / name / base, fs, f"{root}/{base}"


# -- point 1: a directory rename remaps every descendant ----------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_directory_rename_moves_its_children(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)  # the kernel keeps the moved dentries: the mount must follow
    mnt, fs, root = area(m, name)
    (mnt / "sd").mkdir()
    (mnt / "sd" / "deep").mkdir()
    (mnt / "sd" / "child").write_bytes(b"OLD")
    (mnt / "sd" / "deep" / "leaf").write_bytes(b"LEAF")
    assert (mnt / "sd" / "child").read_bytes() == b"OLD"
    assert (mnt / "sd" / "deep" / "leaf").read_bytes() == b"LEAF"
    os.rename(mnt / "sd", mnt / "sd2")
    assert (mnt / "sd2" / "child").read_bytes() == b"OLD"
    assert (mnt / "sd2" / "deep" / "leaf").read_bytes() == b"LEAF"
    (mnt / "sd").mkdir()
    (mnt / "sd" / "child").write_bytes(b"IMPOSTOR")
    assert (mnt / "sd2" / "child").read_bytes() == b"OLD"
    with open(mnt / "sd2" / "deep" / "leaf", "r+b") as f:  # a write through the moved path lands there
        f.write(b"NEW!")
    assert fs.cat_file(f"{root}/sd2/deep/leaf") == b"NEW!"
    assert not fs.exists(f"{root}/sd/deep/leaf")
    assert fs.cat_file(f"{root}/sd/child") == b"IMPOSTOR"


@pytest.mark.parametrize("name", BACKENDS)
def test_directory_rename_onto_a_non_empty_directory_is_enotempty(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    for d in ("a", "b", "e"):
        (mnt / d).mkdir()
    (mnt / "a" / "x").write_bytes(b"x")
    (mnt / "b" / "y").write_bytes(b"y")
    with pytest.raises(OSError) as e:
        os.rename(mnt / "a", mnt / "b")
    assert e.value.errno == errno.ENOTEMPTY
    assert fs.cat_file(f"{root}/a/x") == b"x" and fs.cat_file(f"{root}/b/y") == b"y"
    assert not fs.exists(f"{root}/b/a/x") and not fs.exists(f"{root}/b/x")
    with pytest.raises(OSError) as e:
        os.rename(mnt / "a", mnt / "b" / "y")
    assert e.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as e:
        os.rename(mnt / "b" / "y", mnt / "a")
    assert e.value.errno == errno.EISDIR
    os.rename(mnt / "a", mnt / "e")  # onto an empty directory: replaces it
    assert fs.cat_file(f"{root}/e/x") == b"x" and sorted(os.listdir(mnt / "e")) == ["x"]


# -- points 5, 6, 7, 8: writes follow the namespace and the backend --------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_append_writes_at_the_current_end(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, name)
    f = mnt / "app.txt"
    f.write_bytes(b"012")
    assert f.stat().st_size == 3  # the kernel now caches the old size
    fs.pipe_file(f"{root}/app.txt", b"0123456789")  # another node changes it
    with open(f, "ab") as out:
        out.write(b"XYZ")
    assert fs.cat_file(f"{root}/app.txt") == b"0123456789XYZ"
    assert f.read_bytes() == b"0123456789XYZ"


@pytest.mark.parametrize("name", BACKENDS)
def test_unlinked_open_file_is_not_resurrected_and_still_reads(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    with open(mnt / "gone", "wb") as w:
        w.write(b"written then unlinked")
        w.flush()
        os.unlink(mnt / "gone")
        w.write(b" more")
        w.flush()
        assert os.fstat(w.fileno()).st_size == len(b"written then unlinked more")
    assert not fs.exists(f"{root}/gone")
    assert "gone" not in os.listdir(mnt)
    data = blob(300_000)
    fs.pipe_file(f"{root}/kept", data)
    with open(mnt / "kept", "rb") as r:
        head = r.read(1000)
        os.unlink(mnt / "kept")
        assert os.fstat(r.fileno()).st_size == len(data)
        assert head + r.read() == data
    assert not fs.exists(f"{root}/kept")


@pytest.mark.parametrize("name", BACKENDS)
def test_close_uploads_to_the_current_name(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    (mnt / "d1").mkdir()
    with open(mnt / "d1" / "a", "wb") as w:
        w.write(b"first")
        w.flush()
        os.rename(mnt / "d1" / "a", mnt / "b")
        w.write(b" second")
    assert fs.cat_file(f"{root}/b") == b"first second"
    assert not fs.exists(f"{root}/d1/a")
    with open(mnt / "d1" / "c", "wb") as w:  # and when its directory moves
        w.write(b"in a moving dir")
        w.flush()
        os.rename(mnt / "d1", mnt / "d2")
    assert fs.cat_file(f"{root}/d2/c") == b"in a moving dir"
    assert not fs.exists(f"{root}/d1/c")


@pytest.mark.parametrize("name", BACKENDS)
def test_truncate_by_path_of_an_open_file_is_kept(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    f = mnt / "t"
    with open(f, "wb") as w:
        w.write(b"0123456789")
        w.flush()
        os.truncate(f, 3)
        assert fs.cat_file(f"{root}/t") == b"012"
    assert fs.cat_file(f"{root}/t") == b"012"
    assert f.read_bytes() == b"012"


@pytest.mark.parametrize("name", BACKENDS)
def test_two_writers_share_one_file(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    f = mnt / "two"
    f.write_bytes(b"." * 8)
    w1, w2 = open(f, "r+b", buffering=0), open(f, "r+b", buffering=0)
    w1.write(b"AAAA")
    w2.seek(4)
    w2.write(b"BBBB")
    w1.close()
    w2.close()
    assert fs.cat_file(f"{root}/two") == b"AAAABBBB"  # neither writer's bytes are lost


@pytest.mark.parametrize("name", BACKENDS)
def test_fsync_uploads(mount_agent, name: str) -> None:
    m = mount_agent()
    mnt, fs, root = area(m, name)
    with open(mnt / "synced", "wb") as w:
        w.write(b"durable")
        w.flush()
        os.fsync(w.fileno())
        assert fs.cat_file(f"{root}/synced") == b"durable"


# -- points 2, 3, 4: never wrong bytes ------------------------------------------------------------


def read_on(r) -> bytes:
    """What a reader still gets to the end: bytes until EOF or until the mount says the version is gone
    (ESTALE; the kernel may first return a short read of the pages it already had)."""
    return read_rest(r)[0]


@pytest.mark.parametrize("name", ["s3", "gcs"])
def test_a_reader_never_mixes_versions_and_the_cache_keeps_none(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)  # block_size 1 MiB
    mnt, fs, root = area(m, name)
    a, b = blob(3 << 20), blob((1 << 20) + 4096)  # shorter: a store may answer the old range with 416 first
    fs.pipe_file(f"{root}/obj", a)
    with open(mnt / "obj", "rb", buffering=0) as r:
        assert r.read(1 << 20) == a[: 1 << 20]
        fs.pipe_file(f"{root}/obj", b)  # another node rewrites it under the reader
        rest = read_on(r)
        assert rest == a[1 << 20 : (1 << 20) + len(rest)], "bytes of another version within one open"
    fs.pipe_file(f"{root}/obj", a)  # back to the first content (the same etag on S3)
    assert (mnt / "obj").read_bytes() == a
    fs.pipe_file(f"{root}/obj", b)
    assert (mnt / "obj").read_bytes() == b  # close-to-open: a new open sees the new version at once


def test_local_rewrite_with_the_same_size_and_mtime_is_seen(mount_agent) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, "local")
    old, new = b"A" * 5000, b"B" * 5000
    path = f"{root}/f"
    fs.pipe_file(path, old)
    st = os.stat(path)
    assert (mnt / "f").read_bytes() == old  # now in the kernel's page cache
    with open(path, "r+b") as f:  # in place, as `cp -p` onto an existing file
        f.write(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (mnt / "f").read_bytes() == new
    tmp = f"{root}/.f.tmp"  # beside it and renamed over it, as `rsync -t`
    with open(tmp, "wb") as f:
        f.write(old)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(tmp, path)
    assert (mnt / "f").read_bytes() == old


def test_a_local_reader_never_mixes_versions(mount_agent) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, "local")
    a, b = blob(300_000), blob(300_000)
    fs.pipe_file(f"{root}/f", a)
    with open(mnt / "f", "rb", buffering=0) as r:
        assert r.read(100_000) == a[:100_000]
        with open(f"{root}/f", "r+b") as w:  # rewritten in place under the reader
            w.write(b)
        rest = read_on(r)
        assert rest == a[100_000 : 100_000 + len(rest)], "bytes of another version within one open"


@pytest.mark.parametrize("name", BACKENDS)
def test_a_grown_file_reads_whole_after_reopen(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, name)
    fs.pipe_file(f"{root}/g", b"0123456789")
    assert (mnt / "g").stat().st_size == 10 and (mnt / "g").read_bytes() == b"0123456789"
    fs.pipe_file(f"{root}/g", b"0123456789abcdefghij")
    with open(mnt / "g", "rb") as r:
        assert r.read() == b"0123456789abcdefghij"
    assert (mnt / "g").stat().st_size == 20


# What the kernel knows about a file (its size, its page cache) is shared by every handle of the inode, so
# it must always be the version the open handles pinned: a size from another version cuts a read short or
# runs it long (bytes of no version, the fuzz finding), and pages from another version mix into a read.


def commit(fs, root: str, name: str, data: bytes, local: bool) -> None:
    """Another node's write: an object store commits an upload whole; a local file is written beside and
    renamed over (an open reader's fd keeps the old file)."""
    if local:
        fs.pipe_file(f"{root}/.{name}.tmp", data)
        os.replace(f"{root}/.{name}.tmp", f"{root}/{name}")
    else:
        fs.pipe_file(f"{root}/{name}", data)


def read_rest(r) -> tuple[bytes, bool]:
    """The bytes a reader still gets, and whether it ended in ESTALE rather than at EOF."""
    got = b""
    try:
        while chunk := r.read(1 << 20):
            got += chunk
    except OSError as e:
        assert e.errno == errno.ESTALE, e
        return got, True
    return got, False


@pytest.mark.parametrize("name", BACKENDS)
def test_an_open_reads_its_whole_version_whatever_size_the_kernel_had(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, name)
    small, big = blob(1000), blob(200_000)
    commit(fs, root, "f", small, name == "local")
    assert os.stat(mnt / "f").st_size == 1000  # the kernel may keep this size for the TTL
    commit(fs, root, "f", big, name == "local")
    with open(mnt / "f", "rb", buffering=0) as r:
        assert r.read() == big, "a new open read as far as the size of the version before"
        assert os.fstat(r.fileno()).st_size == len(big)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_reader_keeps_its_size_while_the_file_changes(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=0.0)  # every stat reaches the mount, which looks at the backend
    mnt, fs, root = area(m, name)
    big, small = blob(300_000), blob(1000)
    commit(fs, root, "f", big, name == "local")
    with open(mnt / "f", "rb", buffering=0) as r:
        head = r.read(100_000)
        commit(fs, root, "f", small, name == "local")
        os.stat(mnt / "f")  # anyone looks at the file meanwhile
        os.fstat(r.fileno())
        rest, stale = read_rest(r)
        whole = head + rest
        assert whole == big[: len(whole)], "bytes of another version within one open"
        assert stale or whole == big, f"the read ended at {len(whole)} bytes: no version is that long"


def test_a_local_readers_fstat_shows_modes_and_times_now_and_its_own_size(mount_agent) -> None:
    """The agent reuses an open reader's entry while the file's fstat is unchanged: every change of
    mode or times, through the mount or on the backend, must still show (and the size stay the reader's)."""
    m = mount_agent(metadata_ttl=0.0)  # every fstat reaches the mount
    mnt, _, root = area(m, "local")
    (mnt / "f").write_bytes(b"0123456789")
    fd = os.open(mnt / "f", os.O_RDONLY)
    try:
        assert os.pread(fd, 4, 0) == b"0123"  # a read that reached the agent: the kernel drops the atime
        for mode in (0o600, 0o640, 0o604):  # back to back: often within one ctime tick
            os.chmod(mnt / "f", mode)
            assert stat.S_IMODE(os.fstat(fd).st_mode) == mode
        os.chmod(f"{root}/f", 0o644)  # on the backend itself, not through the mount
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o644
        os.utime(f"{root}/f", ns=(1_000_000_000_123, 2_000_000_000_456))
        st = os.fstat(fd)
        assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000_123, 2_000_000_000_456)
        with open(f"{root}/f", "ab") as w:
            w.write(b"more")  # grown in place on the backend
        st = os.fstat(fd)
        assert st.st_mtime_ns != 2_000_000_000_456 and st.st_size == 10
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_newer_open_never_gets_an_older_readers_pages(mount_agent, name: str) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, name)
    a, b = blob(300_000), blob(300_000)
    commit(fs, root, "f", a, name == "local")
    with open(mnt / "f", "rb", buffering=0) as old:
        assert old.read() == a  # the kernel's pages and the block cache now hold a
        commit(fs, root, "f", b, name == "local")
        with open(mnt / "f", "rb", buffering=0) as new:  # pins b: the kernel drops its pages of a
            try:
                again = os.pread(old.fileno(), len(a), 0)  # the older reader reads on…
                assert again == a[: len(again)]
            except OSError as e:
                assert e.errno == errno.ESTALE, e
            assert new.read() == b, "the newer open read pages of the version before"  # …never into it


# -- point 9: permissions that hold ---------------------------------------------------------------

BOB, NOBODY = 1000, 65534


def as_user(uid: int, code: str, **popen: object) -> subprocess.Popen:
    """Python ``code`` run as ``uid`` (its own gid) in a child process; prints what it reports."""
    setup = f"import os, sys; os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n"
    return subprocess.Popen(
        [sys.executable, "-c", setup + code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        **popen,
    )  # type: ignore[call-overload]


def run_as(uid: int, code: str) -> str:
    out, err = as_user(uid, code).communicate(timeout=60)
    return (out + err).strip()


def test_local_files_keep_their_true_owner_mode_and_times(mount_agent) -> None:
    m = mount_agent(metadata_ttl=30.0)
    mnt, fs, root = area(m, "local")
    local_root = m.cfg.backend("local").url[len("file://") :]
    assert stat.S_IMODE((m.mnt / "local").stat().st_mode) == stat.S_IMODE(os.stat(local_root).st_mode)
    os.chmod(mnt, 0o1777)  # chmod works on local backends
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o1777
    f = mnt / "secret"
    # bob creates a 0600 file and keeps it open for writing.
    writer = as_user(
        BOB,
        f"fd = os.open({str(f)!r}, os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "os.write(fd, b'mine'); print('open', flush=True); sys.stdin.readline()\n"
        "os.write(fd, b' still'); os.close(fd); print('closed')",
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
    st = f.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (BOB, BOB, 0o600)  # at once, not after the TTL
    real = os.stat(f"{root}/secret")
    assert (real.st_uid, real.st_gid, stat.S_IMODE(real.st_mode)) == (BOB, BOB, 0o600)  # created as the caller
    assert "PermissionError" in run_as(NOBODY, f"open({str(f)!r}).read()")
    out, _ = writer.communicate("go\n", timeout=60)
    assert out.strip() == "closed"
    assert run_as(BOB, f"open({str(f)!r}, 'ab').write(b'!'); print(open({str(f)!r}).read())") == "mine still!"
    assert "PermissionError" in run_as(BOB, f"os.chmod({str(mnt / '..')!r}, 0o777)")  # not bob's: EPERM
    os.chown(f, 0, 0)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_000_000_000_123, 2_000_000_000_456))
    real = os.stat(f"{root}/secret")
    assert (real.st_uid, stat.S_IMODE(real.st_mode), real.st_mtime_ns) == (0, 0o640, 2_000_000_000_456)
    st = f.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0, 0o640, 2_000_000_000_456)


@pytest.mark.parametrize("name", ["s3", "gcs"])
def test_object_stores_follow_the_ownership_policy_and_refuse_chmod(mount_agent, name: str) -> None:
    m = mount_agent(object_uid=BOB, object_gid=BOB, object_umask=0o027)
    mnt, fs, root = area(m, name)
    f = mnt / "obj"
    f.write_bytes(b"data")
    for p, mode in ((f, 0o640), (mnt, 0o750), (m.mnt / name, 0o750)):
        st = p.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (BOB, BOB, mode), p
    assert run_as(BOB, f"print(open({str(f)!r}).read())") == "data"
    assert "PermissionError" in run_as(NOBODY, f"open({str(f)!r}).read()")
    for fn in (lambda: os.chmod(f, 0o600), lambda: os.chown(f, 0, 0), lambda: os.utime(f, (1, 1))):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EPERM
    assert fs.cat_file(f"{root}/obj") == b"data"
