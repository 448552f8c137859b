"""The trash directory's name (schemas/trash.py) carries its expiry and is read back by purge; what a deletion job
re-crawls afterwards (crawler/trash.py). Unit tier."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warpdrive.crawler.trash import common_dir
from warpdrive.schemas.config import load
from warpdrive.schemas.trash import expiry_of, trash_dir


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
