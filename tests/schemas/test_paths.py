"""Canonical paths and record checks at the contract (schemas/paths.py, schemas/checks.py)."""

from __future__ import annotations

import pytest

from warpdrive.schemas.checks import check_access, check_listing, split_checked
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.paths import canonical_path
from warpdrive.schemas.records import AccessEvent, ListingEvent


@pytest.mark.parametrize(
    "raw, url, want",
    [
        ("proj0/x.bin", None, "proj0/x.bin"),
        ("/proj0/x.bin", None, "proj0/x.bin"),
        ("./proj0//x.bin/", None, "proj0/x.bin"),
        ("proj0/./a..b/x", None, "proj0/a..b/x"),
        ("s3://bucket/pre/proj0/x.bin", "s3://bucket/pre", "proj0/x.bin"),
        ("s3://bucket/pre/proj0/x.bin", "s3://bucket/pre/", "proj0/x.bin"),
        ("s3://bucket/key/x", None, "key/x"),
        ("gs://b/p/x", "gs://b", "p/x"),
        ("file:///data/wd/p/x", "file:///data/wd", "p/x"),
        ("/data/wd/p/x", "file:///data/wd", "p/x"),
        ("/p/x", "file:///data/wd", "p/x"),
        ("/", None, ""),
    ],
)
def test_canonical_path(raw: str, url: str | None, want: str) -> None:
    assert canonical_path(raw, url) == want


@pytest.mark.parametrize(
    "raw, url, why",
    [
        ("a/\x00b", None, "NUL"),
        ("a/../b", None, "'..'"),
        ("../x", None, "'..'"),
        ("s3://other/pre/x", "s3://bucket/pre", "outside"),
        ("s3://bucket/prefix2/x", "s3://bucket/prefix", "outside"),
    ],
)
def test_refused_paths(raw: str, url: str | None, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        canonical_path(raw, url)


def _ev(**kw: object) -> AccessEvent:
    base = dict(
        event_id="n/b/1",
        timestamp="2026-01-02T03:04:05+01:00",
        user_id="u",
        backend_name="s3",
        path="/p/x",
        operation="read",
        node_host="n",
    )
    return AccessEvent(**{**base, **kw})  # type: ignore[arg-type]


def test_check_access_canonicalises_and_refuses_alone() -> None:
    roots = {"s3": "s3://bucket/pre"}
    good, bad = split_checked(
        [
            _ev(),
            _ev(count=-1),
            _ev(path="s3://bucket/pre/q/y"),
            _ev(bytes_read=-5),
            _ev(path="a/../b"),
            _ev(timestamp="yesterday"),
        ],
        check_access,
        roots,
    )
    assert [(e.path, e.timestamp) for e in good] == [
        ("p/x", "2026-01-02T02:04:05.000000Z"),
        ("q/y", "2026-01-02T02:04:05.000000Z"),
    ]
    assert [(i, why.split()[0]) for i, _, why in bad] == [
        (1, "count"),
        (3, "bytes_read"),
        (4, "path"),
        (5, "timestamp"),
    ]


def test_check_listing() -> None:
    ok = check_listing(ListingEvent("c", "s3", "//p//x", 3), {})
    assert ok.path == "p/x"
    for bad in (ListingEvent("c", "s3", "p/x", -1), ListingEvent("c", "s3", "/", 1)):
        with pytest.raises(DecodeError):
            check_listing(bad, {})
