"""The trash directory's name (schemas/trash.py) carries its expiry and is read back by purge; what is trash (never
crawled); what a deletion job re-crawls afterwards and which emptied local directories it removes (crawler/trash.py,
crawler/local.py). Unit tier."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warpdrive.crawler.local import remove_empty_dirs
from warpdrive.crawler.trash import common_dir
from warpdrive.schemas.config import load
from warpdrive.schemas.trash import expiry_of, in_trash, trash_dir


def test_trash_dir_names_its_expiry_and_job_and_purge_reads_it_back(tmp_path: Path) -> None:
    conf = tmp_path / "w.toml"
    conf.write_text('[crawler]\ntrash_prefix = "/.trash/"\n')
    cfg = load(conf)
    when = datetime(2026, 12, 9, 13, 0, 5, 123456, tzinfo=UTC)
    d = trash_dir(cfg, when, "abc123")
    assert d == ".trash/20261209T130005Z-abc123"
    assert expiry_of(d.rsplit("/", 1)[1]) == when.replace(microsecond=0)
    for other in ("abc", "2026-12-09", "x-20261209T130005Z", ""):
        assert expiry_of(other) is None


def test_common_dir_is_the_deepest_directory_holding_every_path() -> None:
    assert common_dir(["a/b/c.bin", "a/b/d/e.bin"]) == "a/b"
    assert common_dir(["a/b/c.bin", "a/x.bin"]) == "a"
    assert common_dir(["a/b/c.bin", "z/x.bin"]) == ""
    assert common_dir(["top.bin", "a/b.bin"]) == ""
    assert common_dir([]) == ""


def test_trash_is_its_directory_and_everything_under_it() -> None:
    assert in_trash(".trash", ".trash") and in_trash(".trash/x-1/a/b.bin", ".trash")
    assert not in_trash(".trash2/a", ".trash") and not in_trash("a/.trash/b", ".trash") and not in_trash("", ".trash")


def test_emptied_local_directories_go_up_to_the_root_but_never_the_root_or_the_trash(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a/b/c").mkdir(parents=True)
    (root / "a/keep.bin").write_bytes(b"k")
    remove_empty_dirs(str(root), "a/b/c", keep=".trash")
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["a", "a/keep.bin"]  # a holds a file
    (root / "a/keep.bin").unlink()
    remove_empty_dirs(str(root), "a", keep=".trash")
    assert root.is_dir() and list(root.iterdir()) == []  # up to the root, never the root
    (root / ".trash/20260101T000000Z-j/x").mkdir(parents=True)
    remove_empty_dirs(str(root), ".trash/20260101T000000Z-j/x", keep=".trash")
    assert [p.name for p in root.iterdir()] == [".trash"] and list((root / ".trash").iterdir()) == []
