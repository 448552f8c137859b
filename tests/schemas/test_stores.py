"""The storage layer against the real object stores of the stack (S3 server, GCS emulator, Azurite): entries,
versions, pinned reads and the crawler's page listing, per store kind."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import uuid
from typing import Any, Iterator

import pytest

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import StoreKind, VersionChanged, kind_of

pytestmark = pytest.mark.services

OBJECT_STORES = ("s3", "gcs", "azure")


def fresh_bucket(config_dict: dict, name: str) -> tuple[StoreKind, Any, wconfig.BackendConfig]:
    """A new bucket on the stack's ``name`` store: its kind, file system and a backend at ``<bucket>/p``."""
    shared = next(b for b in config_dict["backends"] if b["name"] == name)
    bucket = f"wdstore-{uuid.uuid4().hex[:10]}"
    backend = wconfig.BackendConfig(
        name, f"{shared['url'].split('://')[0]}://{bucket}/p", shared.get("storage_options", {})
    )
    kind = kind_of(backend)
    fs = kind.open_fs(backend, use_listings_cache=False, skip_instance_cache=True)
    fs.mkdir(bucket)
    return kind, fs, backend


@pytest.fixture(params=OBJECT_STORES)
def store(
    request: pytest.FixtureRequest, config_dict: dict
) -> Iterator[tuple[StoreKind, Any, str, wconfig.BackendConfig]]:
    """(kind, fs, a fresh prefix, its backend) on one object store of the session's stack."""
    kind, fs, backend = fresh_bucket(config_dict, request.param)
    yield kind, fs, kind.root_path(backend), backend
    fs.rm(kind.root_path(backend).split("/")[0], recursive=True)


def test_entry_version_and_pinned_read(store: tuple[StoreKind, Any, str, wconfig.BackendConfig]) -> None:
    kind, fs, root, _ = store
    path = f"{root}/dir/obj"
    fs.pipe_file(path, b"0123456789")
    entry = kind.stat(fs, path)
    assert (entry.is_dir, entry.size) == (False, 10) and entry.version
    assert dict(kind.list(fs, f"{root}/dir")) == {"obj": entry}  # listing and stat agree
    assert dict(kind.list(fs, root))["dir"].is_dir
    assert kind.md5(fs.info(path)) == hashlib.md5(b"0123456789").hexdigest()
    assert kind.read_range(fs, path, 2, 6, entry.version) == b"2345"
    data, served = kind.read_versioned(fs, path, 0, 4)
    assert data == b"0123" and served in (entry.version, None)  # None: the emulator does not say

    fs.pipe_file(path, b"abcdefghij")
    fs.invalidate_cache(path)
    changed = kind.stat(fs, path)
    assert changed.version != entry.version
    with pytest.raises(VersionChanged) as e:
        kind.read_range(fs, path, 2, 6, entry.version)
    assert e.value.errno == errno.ESTALE
    assert kind.read_range(fs, path, 2, 6, changed.version) == b"cdef"

    fs.rm_file(path)
    with pytest.raises(VersionChanged):
        kind.read_range(fs, path, 0, 2, changed.version)


@pytest.mark.parametrize("name", ["gcs", "azure"])
def test_a_rewrite_with_the_same_bytes_is_a_new_version(config_dict: dict, name: str) -> None:
    """GCS generations and Azure ETags name the write, not the content (S3's single-part ETag is the MD5)."""
    kind, fs, backend = fresh_bucket(config_dict, name)
    path = f"{kind.root_path(backend)}/o"
    try:
        fs.pipe_file(path, b"same")
        v1 = kind.stat(fs, path).version
        fs.pipe_file(path, b"same")
        fs.invalidate_cache(path)
        assert kind.stat(fs, path).version != v1
        with pytest.raises(VersionChanged):
            kind.read_range(fs, path, 0, 4, v1)
    finally:
        fs.rm(kind.root_path(backend).split("/")[0], recursive=True)


def test_lister_pages_and_events(store: tuple[StoreKind, Any, str, wconfig.BackendConfig]) -> None:
    kind, fs, root, backend = store
    for i in range(3):
        fs.pipe_file(f"{root}/a/{i}", b"x" * i)
    fs.pipe_file(f"{root}/b", b"bb")

    async def listed() -> tuple[list[str], dict[str, Any]]:
        async with kind.open_lister(backend) as (lister, base):
            assert base == "p/"
            prefixes, events = [], {}
            async for page in lister.pages(base, "/"):
                prefixes += page.prefixes
                for obj in page.keys:
                    ev = lister.event(obj, lister.name(obj)[len(base) :], "c1", backend.name)
                    events[ev.path] = ev
            async for page in lister.pages(base + "a/", ""):
                for obj in page.keys:
                    ev = lister.event(obj, lister.name(obj)[len(base) :], "c1", backend.name)
                    events[ev.path] = ev
            return prefixes, events

    prefixes, events = asyncio.run(listed())
    assert prefixes == ["p/a/"]
    assert sorted(events) == ["a/0", "a/1", "a/2", "b"]
    assert events["b"].size_bytes == 2 and events["b"].etag == hashlib.md5(b"bb").hexdigest()
    assert events["a/2"].etag == kind.md5(fs.info(f"{root}/a/2"))
