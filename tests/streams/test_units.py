"""Pure unit tests of the folding logic (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from warpdrive.schemas.records import AccessEvent, encode_batch
from warpdrive.schemas.tree import stale_through, week
from warpdrive.streams.access import decode
from warpdrive.streams.files import FileState
from warpdrive.streams.offsets import Msg, end_offsets, first_offsets, fresh_messages, gaps
from warpdrive.streams.owner_inactive import owner_deltas
from warpdrive.streams.ownership import Owners, under
from warpdrive.streams.rollups import Deltas
from warpdrive.streams.tree import dir_and_ancestors, leaf_dir


def ancestors(path: str, max_depth: int) -> list[str]:
    """Every directory a file counts in, as the tree folds it: its leaf directory and that one's ancestors."""
    return dir_and_ancestors(leaf_dir(path, max_depth))


def test_ancestors_and_depth_limit() -> None:
    assert ancestors("a/b/c.bin", 0) == ["", "a", "a/b"]
    assert ancestors("a/b/c.bin", 1) == ["", "a"]  # deeper files count in the deepest kept level
    assert ancestors("top.bin", 0) == [""] and ancestors("/a/b/c/d.bin", 2) == ["", "a", "a/b"]
    assert week(datetime(2026, 11, 25, 13, tzinfo=UTC)) == date(2026, 11, 23) and week(None) == date.min


def test_owner_precedence_and_directory_prefixes() -> None:
    owners = Owners(
        {"s3": [("proj/a", "vision", "lead"), ("proj", "nlp", None), ("", "ops", None)]},
        {"cara": "vision", "dan": "nlp"},
        {"1000": "dan"},
    )
    assert owners.resolve("s3", "proj/a/x", "cara", None, None) == ("vision", "lead", "rule")
    assert owners.resolve("s3", "project/x", "cara", None, None) == ("ops", None, "rule")
    assert owners.resolve("gcs", "x", "cara", "dan", None) == ("vision", "cara", "creator")
    assert owners.resolve("gcs", "x", None, None, 1000) == ("nlp", "dan", "posix")
    assert owners.resolve("gcs", "x", None, "zed", None) == ("unowned", "zed", "posix")
    assert owners.resolve("gcs", "x", None, None, None) == ("unowned", None, "none")
    assert under("data/x", "data") and under("data", "data") and not under("database/x", "data")


def test_deltas_move_usage_growth_and_tree() -> None:
    d = Deltas({"s3": 1})
    t = datetime(2026, 11, 25, tzinfo=UTC)
    a = FileState("s3", "p/q/f", "vision", "cara", 100, None, t)
    d.change(None, a)
    d.change(a, FileState("s3", "p/q/f", "nlp", "dan", 150, t, t))  # owner change and growth
    assert d.usage == {("s3", "vision", "cara"): [0, 0], ("s3", "nlp", "dan"): [1, 150]}
    assert d.growth == {("s3", "vision"): [100, 100], ("s3", "nlp"): [150, 0]}
    # Stale bytes against the boundary: the file (now read in the week of the 23rd) counts only when that week
    # is at or before it; its never-read first state came and went within the batch.
    dirs, teams, _, _ = d.tree.expand(date(2026, 11, 16))
    assert dirs == {("s3", ""): [1, 150, 0], ("s3", "p"): [1, 150, 0]}
    assert d.tree.expand(date(2026, 11, 23))[0][("s3", "p")] == [1, 150, 150]
    assert ("s3", "p", "vision") not in teams and teams[("s3", "p", "nlp")] == [1, 150]
    assert d.marks.sizes == {("s3", "p/q/f"): 150}
    d.change(FileState("s3", "p/q/f", "nlp", "dan", 150, t, t), FileState("s3", "p/q/f", "nlp", "dan", 150, None, t))
    assert d.marks.sizes == {("s3", "p/q/f"): 150}  # an access is no size change
    d.change(FileState("s3", "p/q/f", "nlp", "dan", 150, None, t), None)
    assert d.marks.sizes == {("s3", "p/q/f"): None}  # deleted


def test_owner_activity_weeks_fold_from_the_tree_leaves() -> None:
    """A file counts under its owner (team, user or '') and the week of its activity (the later of last access
    and modification), wherever it lies; moves between owners and weeks net out, and what nets to zero is left out."""
    d = Deltas({"s3": 1})
    t = datetime(2026, 11, 25, tzinfo=UTC)
    old = datetime(2026, 1, 7, tzinfo=UTC)
    a = FileState("s3", "p/q/f", "vision", "cara", 100, None, old)
    d.change(None, a)
    d.change(None, FileState("s3", "p/g", "vision", "cara", 5, None, old))
    d.change(None, FileState("s3", "r/h", "unowned", None, 7, None, None))
    d.change(a, FileState("s3", "p/q/f", "nlp", "cara", 100, t, old))  # read now, and reowned
    d.added(iter([("gcs", "x/y", "nlp", "dan", 3, old)]))
    assert owner_deltas(d.tree) == {
        ("s3", "vision", "cara", week(old)): [1, 5],
        ("s3", "nlp", "cara", week(t)): [1, 100],
        ("s3", "unowned", "", date.min): [1, 7],
        ("gcs", "nlp", "dan", week(old)): [1, 3],
    }
    d.change(FileState("s3", "p/g", "vision", "cara", 5, None, old), None)
    assert ("s3", "vision", "cara", week(old)) not in owner_deltas(d.tree)


def test_stale_boundary_is_the_last_week_ended_n_days_ago() -> None:
    # 2026-11-25 (a Wednesday) − 90 days = 2026-08-27: the week of 08-24 has not ended by then, so the newest
    # bucket counted is the week before, 08-17. The week of 08-24 ends on 08-31, 90 days before Sunday 11-29.
    assert stale_through(90, datetime(2026, 11, 25, 13, tzinfo=UTC)) == date(2026, 8, 17)
    assert stale_through(90, datetime(2026, 11, 28, 23, 59, tzinfo=UTC)) == date(2026, 8, 17)
    assert stale_through(90, datetime(2026, 11, 29, 0, 0, tzinfo=UTC)) == date(2026, 8, 24)


def test_new_files_fold_as_one_change_each() -> None:
    """``Deltas.added`` (a crawl's new files, folded per owner) equals ``change(None, file)`` per file."""
    t = datetime(2026, 11, 25, tzinfo=UTC)
    files = [
        ("s3", "p/q/f1", "vision", "cara", 100, t),
        ("s3", "p/f2", "vision", "cara", 7, None),
        ("s3", "p/q/r/f3", "unowned", None, 0, t),
        ("gcs", "top", "nlp", "dan", 5, t),
    ]
    bulk, one_by_one = Deltas({"s3": 2}), Deltas({"s3": 2})
    bulk.added(iter(files))
    for b, p, team, user, size, mtime in files:
        one_by_one.change(None, FileState(b, p, team, user, size, None, mtime))
    assert (
        bulk.usage
        == one_by_one.usage
        == {("s3", "vision", "cara"): [2, 107], ("s3", "unowned", ""): [1, 0], ("gcs", "nlp", "dan"): [1, 5]}
    )
    assert bulk.growth == one_by_one.growth and bulk.last_access == one_by_one.last_access == {}
    boundary = date(2026, 11, 30)
    assert bulk.tree.leaves == one_by_one.tree.leaves and bulk.tree.expand(boundary) == one_by_one.tree.expand(boundary)
    # f3 counts in the deepest kept level; never read, both count as stale
    assert bulk.tree.expand(boundary)[0][("s3", "p/q")] == [2, 100, 100]
    # a file marked before it was first indexed gets its size from either path
    assert bulk.marks.sizes == one_by_one.marks.sizes == {(b, p): size for b, p, _, _, size, _ in files}


def test_batch_folding_and_bad_messages() -> None:
    ev = [
        AccessEvent("e1", "2026-11-25T10:00:00.000000Z", "u", "b", "f", "read", "n", count=3, bytes_read=30),
        AccessEvent("e2", "2026-11-25T11:00:00+01:00", "u", "b", "f", "read", "n", bytes_read=5),
        AccessEvent("e3", "2026-11-26T00:00:00.000000Z", "u", "b", "f", "stat", "n", weight=10.0),
    ]
    good = Msg("t", 0, 0, None, encode_batch(ev))
    # A bad record is refused alone (dead-lettered by itself); its message's other records are applied.
    mixed = Msg(
        "t",
        0,
        1,
        None,
        encode_batch(
            [
                AccessEvent("e4", "yesterday", "u", "b", "f", "read", "n"),
                AccessEvent("e5", "2026-11-25T09:00:00Z", "u", "b", "/f", "stat", "n"),
                AccessEvent("e6", "2026-11-25T09:00:00Z", "u", "b", "f", "read", "n", bytes_read=-1),
            ]
        ),
    )
    d = decode([good, mixed, Msg("t", 0, 2, None, b"[]")])
    agg = d.agg
    assert [m.offset for m, _ in d.bad] == [2]
    assert [(m.offset, i, why.split()[0]) for m, i, _, why in d.rejected] == [(1, 0, "timestamp"), (1, 2, "bytes_read")]
    day1, day2 = agg.rows[("b", "f", "u", "2026-11-25")], agg.rows[("b", "f", "u", "2026-11-26")]
    assert (day1.read_count, day1.bytes_read, day1.last_access) == (4, 35, "2026-11-25T10:00:00.000000Z")
    assert day2.meta_count == 10.0 and agg.events == 4
    assert day1.meta_count == 1.0  # e5's leading slash: the same file
    assert agg.files[("b", "f")].last_access == "2026-11-25T10:00:00.000000Z"  # stat is not a use


def test_offset_rules_gap_fresh_and_end() -> None:
    """apply_exactly_once's pure parts: a partition whose batch starts past its stored offset is a gap; messages
    below it were applied before; the offset stored after a batch is one past each partition's highest."""
    msgs = [Msg("t", 0, 5, None, b""), Msg("t", 0, 3, None, b""), Msg("t", 1, 9, None, b""), Msg("u", 0, 0, None, b"")]
    assert first_offsets(msgs) == {("t", 0): 3, ("t", 1): 9, ("u", 0): 0}
    stored = {("t", 0): 4, ("t", 1): 7, ("u", 0): 0}
    assert gaps(msgs, stored) == {("t", 1): (7, 9)}  # t[0] starts below its stored offset: a redelivery, no gap
    assert gaps(msgs, {("t", 0): 3, ("t", 1): 9, ("u", 0): 0}) == {}
    assert [(m.topic, m.partition, m.offset) for m in fresh_messages(msgs, stored)] == [
        ("t", 0, 5),
        ("t", 1, 9),
        ("u", 0, 0),
    ]
    assert end_offsets(msgs) == {("t", 0): 6, ("t", 1): 10, ("u", 0): 1}
    assert end_offsets([]) == {} and fresh_messages(msgs, {("t", 0): 99, ("t", 1): 99, ("u", 0): 99}) == []
