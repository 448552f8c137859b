"""The object listing's pure pieces: where a listing starts, when a prefix is split, which keys are new files."""

from __future__ import annotations

from warpdrive.crawler.objects import PageFilter, first_work, should_split


def test_first_work_is_the_backend_or_the_prefix_as_file_and_subtree() -> None:
    assert first_work("", "") == [("", "")]
    assert first_work("team/", "/") == [("team/", "")]
    assert first_work("team/", "/runs/a/") == [("team/runs/a", "exact"), ("team/runs/a/", "")]


def test_prefixes_are_split_only_while_workers_would_idle() -> None:
    assert should_split(0, 1, 4) and should_split(3, 1, 4)
    assert not should_split(4, 1, 4) and not should_split(0, 5, 4)


def test_page_filter_skips_placeholders_and_what_a_retry_lists_again() -> None:
    f = PageFilter("p/", exact=False)
    keys = ["p/a", "p/d/", "p/d/x", "p/e"]
    assert [keys[i] for i in f.files(keys)] == ["p/a", "p/d/x", "p/e"]
    # A retry restarts the listing: what was seen is skipped, the rest is new.
    assert f.files(["p/a", "p/d/", "p/d/x", "p/e", "p/f", "p/g/"]) == [4]
    assert f.prefixes(["p/d/", "p/g/"]) == ["p/d/", "p/g/"]
    assert f.prefixes(["p/d/", "p/g/", "p/h/"]) == ["p/h/"]


def test_exact_listing_keeps_only_the_named_object() -> None:
    f = PageFilter("p/run", exact=True)
    assert f.files(["p/run-2"]) == []  # the first key after a missing object is not it
    assert PageFilter("p/run", exact=True).files(["p/run"]) == [0]


def test_page_filter_leaves_out_the_trash_directory() -> None:
    f = PageFilter("b/", exact=False, skip="b/ops/.trash/")
    keys = ["b/ops/.trash/20260101T000000Z-j/x", "b/ops/.trash2/y", "b/ops/a", "b/x/ops/.trash/z"]
    assert [keys[i] for i in f.files(keys)] == ["b/ops/.trash2/y", "b/ops/a", "b/x/ops/.trash/z"]
    assert f.prefixes(["b/ops/.trash/", "b/ops/.trash2/", "b/ops/z/"]) == ["b/ops/.trash2/", "b/ops/z/"]
