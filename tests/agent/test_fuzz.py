"""Seeded fuzzing through real mounts (local, S3, GCS) while another client changes the backend.

The mount side runs random writes, overwrites, appends, truncates, renames (files and directories) and
unlinks on files only it touches, and after every close the backend must equal the model. Meanwhile
another client (a thread with its own file system object, beside the agent process) keeps rewriting
other files directly on the backend, logging each version before it writes it; every read through
the mount of those files must be one whole logged version (an ESTALE is allowed, mixed bytes never). A local file is committed as tools commit one (written
beside it and renamed over it); in-place rewrites under a reader are test_semantics' business.
Bounded (about a hundred operations per backend) and reproducible from the seed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import threading
from pathlib import Path

import pytest

from tests.agent.conftest import blob
from tests.agent.test_semantics import BACKENDS, area

pytestmark = [pytest.mark.services, pytest.mark.fuse]

SEED = 1414
OPS = 100
BLOCK = 64 << 10  # small cache blocks: the externally changed files span several


class Changer(threading.Thread):
    """Another client: rewrites ``ext-*`` files on the backend directly, each version logged first."""

    def __init__(self, fs, root: str, seed: int, local: bool, atomic: bool) -> None:
        super().__init__(daemon=True)
        self.fs, self.root, self.rnd, self.local = fs, root, random.Random(seed), local
        # gcp-storage-emulator writes an object's bytes before its new generation and ignores
        # ifGenerationMatch, so a read racing a write can get new bytes under the old generation (real
        # GCS applies both atomically). There, writes wait while a reader has the file open; the version
        # changes between opens, and test_semantics changes one under an open reader.
        self.lock = threading.Lock() if not atomic else contextlib.nullcontext()
        self.versions: dict[str, list[bytes]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def put(self, name: str) -> None:
        data = blob(self.rnd.randrange(1, 5 * BLOCK), self.rnd)
        with self.lock:
            self._put(name, data)

    def _put(self, name: str, data: bytes) -> None:
        self.versions.setdefault(name, []).append(data)  # logged before any reader can see it
        if self.local:  # committed as tools commit a local file: written beside it, renamed over it
            self.fs.pipe_file(f"{self.root}/.{name}.tmp", data)
            os.replace(f"{self.root}/.{name}.tmp", f"{self.root}/{name}")
        else:  # an object store commits each upload whole
            self.fs.pipe_file(f"{self.root}/{name}", data)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.put(f"ext-{self.rnd.randrange(3)}")
        except BaseException as e:  # reported by the test
            self.error = e


def _one_of(parts: list[tuple[int, bytes]], versions: list[bytes]) -> bool:
    """Whether one version holds every (offset, bytes) part read (a part may be short: the kernel returns
    what it read before an ESTALE)."""
    return any(all(v[off : off + len(data)] == data for off, data in parts) for v in versions)


@pytest.mark.timeout(900)  # ~1 min alone per backend; more on a loaded machine
@pytest.mark.parametrize("name", BACKENDS)
def test_fuzz_reads_are_whole_versions_and_the_backend_equals_the_model(mount_agent, name: str) -> None:
    m = mount_agent(block_size=BLOCK)
    mnt, fs, root = area(m, name)
    rnd = random.Random(f"{SEED}-{name}")
    changer = Changer(fs, root, SEED, local=name == "local", atomic=name != "gcs")
    for i in range(3):
        changer.put(f"ext-{i}")
    model: dict[str, bytes] = {}  # path under the area → content; directories d0, d1… hold some
    dirs = ["", "d0"]
    (mnt / "d0").mkdir()
    stale = reads = 0

    def check_backend(path: str) -> None:
        assert fs.cat_file(f"{root}/{path}") == model[path], (op, path)

    changer.start()
    try:
        for step in range(OPS):
            op = rnd.choice(
                [
                    "create",
                    "create",
                    "pwrite",
                    "append",
                    "truncate",
                    "rename",
                    "rename_dir",
                    "unlink",
                    "read",
                    "read_ext",
                    "read_ext",
                ]
            )
            files = sorted(model)
            if op == "create" or not files and op in ("pwrite", "append", "truncate", "rename", "unlink", "read"):
                path = f"{rnd.choice(dirs)}/f{step}".lstrip("/")
                data = blob(rnd.randrange(0, 3 * BLOCK), rnd)
                (mnt / path).write_bytes(data)
                model[path] = data
                check_backend(path)
            elif op == "pwrite":
                path = rnd.choice(files)
                off, data = rnd.randrange(len(model[path]) + 1), blob(rnd.randrange(1, BLOCK), rnd)
                with open(mnt / path, "r+b") as f:
                    f.seek(off)
                    f.write(data)
                old = model[path]
                model[path] = old[:off] + data + old[off + len(data) :]
                check_backend(path)
            elif op == "append":
                path, data = rnd.choice(files), blob(rnd.randrange(1, BLOCK), rnd)
                with open(mnt / path, "ab") as f:
                    f.write(data)
                model[path] += data
                check_backend(path)
            elif op == "truncate":
                path = rnd.choice(files)
                n = rnd.randrange(len(model[path]) + BLOCK)
                os.truncate(mnt / path, n)
                model[path] = model[path][:n] + b"\0" * max(0, n - len(model[path]))
                check_backend(path)
            elif op == "rename":
                src = rnd.choice(files)
                dst = rnd.choice(files + [f"{rnd.choice(dirs)}/r{step}".lstrip("/")])
                os.rename(mnt / src, mnt / dst)
                if dst != src:
                    model[dst] = model.pop(src)
                    assert not fs.exists(f"{root}/{src}")
                check_backend(dst)
            elif op == "rename_dir":
                src = rnd.choice(dirs[1:])
                dst = f"d{step}"
                os.rename(mnt / src, mnt / dst)
                dirs[dirs.index(src)] = dst
                for p in [p for p in model if p.startswith(src + "/")]:
                    model[dst + p[len(src) :]] = model.pop(p)
                for p in model:
                    if p.startswith(dst + "/"):
                        check_backend(p)
            elif op == "unlink":
                path = rnd.choice(files)
                os.unlink(mnt / path)
                del model[path]
                assert not fs.exists(f"{root}/{path}")
            elif op == "read":
                path = rnd.choice(files)
                assert (mnt / path).read_bytes() == model[path], path
            else:  # read a file the other client keeps changing: whole versions only
                ext = f"ext-{rnd.randrange(3)}"
                reads += 1
                try:
                    with changer.lock, open(mnt / ext, "rb", buffering=0) as f:
                        if rnd.random() < 0.5:
                            data = f.read()
                            assert data in changer.versions[ext], f"{ext}: {len(data)} bytes of no version"
                        else:
                            offs = [rnd.randrange(4 * BLOCK) + i * BLOCK // 3 for i in range(6)]
                            parts = []
                            for off in offs:
                                try:
                                    os.fstat(f.fileno())  # the kernel may ask the mount for the size anew
                                    parts.append((off, os.pread(f.fileno(), BLOCK // 3, off)))
                                except OSError as e:  # the version is gone: what was read must still be one
                                    assert e.errno == errno.ESTALE, e
                                    stale += 1
                                    break
                            assert _one_of(parts, changer.versions[ext]), f"{ext}: parts of different versions"
                except OSError as e:
                    assert e.errno == errno.ESTALE, e
                    stale += 1
            assert changer.error is None, changer.error
    finally:
        changer.stop.set()
        changer.join(30)
    # The mount's view equals the model at the end, too.
    seen = {str(p.relative_to(mnt)) for p in Path(mnt).rglob("*") if p.is_file() and "ext-" not in p.name}
    assert seen == set(model)
    print(f"{name}: {OPS} ops, {reads} reads of changing files ({stale} ESTALE)")
