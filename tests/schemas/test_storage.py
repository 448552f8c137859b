"""The storage layer without servers: registry, entries, checksums, local versions and pinned reads."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fsspec
import pytest

from warpdrive.schemas import config as wconfig
from warpdrive.schemas import storage
from warpdrive.schemas.storage import VersionChanged
from warpdrive.schemas.storage.gcs import GCSStore, checksum
from warpdrive.schemas.storage.local import LocalStore
from warpdrive.schemas.storage.s3 import S3Store

LOCAL = LocalStore()


def test_every_scheme_is_registered_to_its_kind() -> None:
    assert set(storage.SCHEMES) >= {"file", "s3", "gs", "gcs"}
    for scheme, kind in storage.KINDS.items():
        assert scheme in kind.schemes
        assert storage.KINDS[kind.protocol] is kind  # the canonical scheme is registered too
    b = wconfig.BackendConfig("g", "gcs://bucket/p")
    assert b.scheme == "gs" and isinstance(storage.kind_of(b), GCSStore)
    assert storage.root_path(b) == "bucket/p"
    assert storage.root_path(wconfig.BackendConfig("l", "file:///data/x/")) == "/data/x"
    assert storage.root_path(wconfig.BackendConfig("l", "file:///")) == "/"


def test_config_accepts_exactly_the_registered_schemes() -> None:
    for scheme in storage.SCHEMES:
        url = "file:///x" if storage.KINDS[scheme].posix else f"{scheme}://bucket"
        wconfig.from_dict({"backends": [{"name": "b", "url": url}]})
    with pytest.raises(Exception, match=r"scheme 'memory' not supported \(use file, s3, gs, gcs"):
        wconfig.from_dict({"backends": [{"name": "b", "url": "memory://x"}]})


def test_version_changed_is_estale() -> None:
    e = VersionChanged("b/k", "v1", "v2")
    assert isinstance(e, OSError) and e.errno == errno.ESTALE
    assert "no longer version v1 (now v2)" in str(e)


def test_object_store_entries_and_checksums() -> None:
    s3, gcs = S3Store(), GCSStore()
    md5 = "781e5e245d69b566979b86e28d23f2c7"
    e = s3.entry(
        {"name": "b/k", "type": "file", "size": 10, "ETag": f'"{md5}"', "LastModified": "2026-01-02T03:04:05Z"}
    )
    assert (e.is_dir, e.size, e.version, e.mtime) == (False, 10, md5, 1767323045.0)
    assert s3.md5({"ETag": f'"{md5}"'}) == md5
    assert s3.md5({"ETag": '"0123456789abcdef0123456789abcdef-3"'}) is None  # multipart: not the content's md5
    info = {
        "name": "b/k",
        "type": "file",
        "size": 10,
        "generation": "1796",
        "md5Hash": "eB5eJF1ptWaXm4bijSPyxw==",
        "crc32c": "KAwGng==",
        "updated": "2026-01-02T03:04:05.5Z",
    }
    e = gcs.entry(info)
    assert (e.version, e.mtime) == ("1796", 1767323045.5)  # the generation, never the md5
    assert gcs.md5(info) == checksum(info) == md5
    assert checksum({"crc32c": "KAwGng=="}) == "crc32c:KAwGng=="
    assert s3.entry({"name": "b/d", "type": "directory"}).is_dir


def test_local_version_changes_with_every_rewrite(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    os.utime(p, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    v1 = LOCAL.stat(None, str(p)).version
    # cp -p: the same inode rewritten in place with the same size, then the same mtime set again.
    with open(p, "r+b") as f:
        f.write(b"abcdefghij")
    os.utime(p, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    v2 = LOCAL.stat(None, str(p)).version
    assert v2 != v1
    # rsync -t: a new file with the same size and mtime renamed over the old one.
    tmp = tmp_path / ".f.tmp"
    tmp.write_bytes(b"ABCDEFGHIJ")
    os.utime(tmp, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    os.rename(tmp, p)
    v3 = LOCAL.stat(None, str(p)).version
    assert len({v1, v2, v3}) == 3
    assert LOCAL.stat(None, str(p)).mtime == pytest.approx(1_600_000_000.123456789)


def test_local_stat_list_and_fsspec_info_agree(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o750)
    (tmp_path / "f").write_bytes(b"x" * 5)
    os.symlink(tmp_path / "f", tmp_path / "link")
    listed = dict(LOCAL.list(None, str(tmp_path)))
    fs = fsspec.filesystem("file")
    for name in ("d", "f", "link"):
        full = str(tmp_path / name)
        assert listed[name] == LOCAL.stat(fs, full) == LOCAL.entry(fs.info(full))
    assert listed["d"].is_dir and listed["d"].mode == 0o750
    assert listed["link"].size == 5 and listed["link"].version == listed["f"].version  # the target's


def test_local_pinned_read(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    v1 = LOCAL.stat(None, str(p)).version
    assert LOCAL.read_range(None, str(p), 2, 6, v1) == b"2345"
    assert LOCAL.read_versioned(None, str(p), 0, 3) == (b"012", v1)
    with open(p, "r+b") as f:  # same size, in place
        f.write(b"abc")
    with pytest.raises(VersionChanged) as e:
        LOCAL.read_range(None, str(p), 2, 6, v1)
    assert e.value.errno == errno.ESTALE and e.value.now == LOCAL.stat(None, str(p)).version
    data, v2 = LOCAL.read_versioned(None, str(p), 0, 4)
    assert (data, v2) == (b"abc3", LOCAL.stat(None, str(p)).version)
    p.unlink()
    with pytest.raises(VersionChanged):
        LOCAL.read_range(None, str(p), 0, 1, v2)


def test_azure_urls_entries_and_checksums() -> None:
    from datetime import UTC, datetime

    from warpdrive.schemas.storage.azure import AzureStore

    for url in ("az://lake/p", "abfs://lake/p", "abfss://lake@acct.dfs.core.windows.net/p/"):
        b = wconfig.BackendConfig("a", url)
        assert b.scheme == "az" and isinstance(storage.kind_of(b), AzureStore)
        assert storage.root_path(b) == "lake/p"
    kind = AzureStore()
    assert kind.options(wconfig.BackendConfig("a", "abfs://lake@acct.dfs.core.windows.net/p"), {}) == {
        "account_name": "acct"
    }
    assert kind.options(wconfig.BackendConfig("a", "az://lake", {"account_name": "other"}), {}) == {
        "account_name": "other"
    }
    info = {
        "name": "lake/p/o",
        "type": "file",
        "size": 10,
        "etag": '"0x1DF39633B6249F0"',
        "last_modified": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "content_settings": {"content_md5": bytearray(bytes.fromhex("781e5e245d69b566979b86e28d23f2c7"))},
    }
    e = kind.entry(info)
    assert (e.size, e.version, e.mtime) == (10, "0x1DF39633B6249F0", 1767323045.0)
    assert kind.md5(info) == "781e5e245d69b566979b86e28d23f2c7"
    assert kind.md5({**info, "content_settings": {"content_md5": None}}) is None  # staged-block upload: hashed instead
    with pytest.raises(Exception, match=r"backends\[0\]\.url: 'az://' names no bucket"):
        wconfig.from_dict({"backends": [{"name": "b", "url": "az://"}]})
