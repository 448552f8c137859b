"""The access fold (schemas/aggregate.py): an importer's blocks fold to exactly what their lines' events fold to."""

from __future__ import annotations

import random

import pytest

from warpdrive.schemas.aggregate import Aggregate, block_of, expand, merge_runs, runs
from warpdrive.schemas.checks import check_block
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import AccessBlock, AccessEvent, decode_batch, encode_batch

SOURCE = "jsonl:file:///logs/a.jsonl"


def _events(n: int, seed: int = 3) -> list[AccessEvent]:
    rnd = random.Random(seed)
    out, line = [], 0
    for _ in range(n):
        line += rnd.choice((1, 1, 1, 2, 5))  # skipped and bad lines leave holes
        op = rnd.choice(("read", "read", "write", "stat", "create", "list"))
        out.append(
            AccessEvent(
                f"{SOURCE}#{line}",
                f"2026-0{rnd.randint(1, 3)}-1{rnd.randint(0, 2)}T0{rnd.randint(0, 9)}:00:0{rnd.randint(0, 9)}.000000Z",
                rnd.choice(("ann", "bob")),
                rnd.choice(("nfs", "s3")),
                f"d/{rnd.randrange(6)}",
                op,
                "n",
                seq=line,
                count=rnd.randint(1, 4),
                bytes_read=rnd.randrange(100) if op == "read" else 0,
                bytes_written=rnd.randrange(100) if op == "write" else 0,
                cache_hit=rnd.random() < 0.3,
                cache_hits=rnd.choice((0, 0, 2)),
                error=rnd.choice((None, None, "EIO")),
                source=SOURCE,
            )
        )
    return out


def _fold(events: list[AccessEvent]) -> Aggregate:
    agg = Aggregate()
    agg.add_all(events)
    agg.coverage = {}  # history: no telemetry coverage
    return agg


def test_blocks_fold_to_what_their_events_fold_to() -> None:
    events = _events(3000)
    want = _fold(events)
    agg = Aggregate()
    for i in range(0, len(events), 700):  # several blocks, sent and decoded as a worker gets them
        (block,) = decode_batch(encode_batch([block_of(SOURCE, events[i : i + 700])]))
        agg.add_block(check_block(block, {}))
    assert agg.rows == want.rows and agg.files == want.files and agg.events == want.events == 3000
    assert len(agg.rows) < 3000 / 5  # it folds: a fraction of the rows


def test_a_block_expands_into_its_lines_events() -> None:
    events = _events(500)
    (block,) = decode_batch(encode_batch([block_of(SOURCE, events)]))
    assert block.runs == runs(e.seq for e in events) and block.events == 500
    back = expand(block)
    assert [(e.event_id, e.seq, e.timestamp, e.path, e.user_id, e.operation) for e in back] == [
        (e.event_id, e.seq, e.timestamp, e.path, e.user_id, e.operation) for e in events
    ]
    assert _fold(back).rows == _fold(events).rows and _fold(back).files == _fold(events).files
    assert {b: (f, la, n) for b, f, la, n in block.coverage} == {
        b: (
            min(e.timestamp for e in events if e.backend_name == b),
            max(e.timestamp for e in events if e.backend_name == b),
            sum(1 for e in events if e.backend_name == b),
        )
        for b in ("nfs", "s3")
    }


def test_runs() -> None:
    assert runs([5, 1, 2, 3, 3, 9]) == [(1, 3), (5, 5), (9, 9)]
    assert merge_runs([(4, 6), (1, 3), (8, 9), (9, 12)]) == [(1, 6), (8, 12)]


def test_block_checks() -> None:
    def block(**change: object) -> AccessBlock:
        (b,) = decode_batch(encode_batch([block_of(SOURCE, _events(20))]))
        for k, v in change.items():
            setattr(b, k, v)
        return b

    b = block()
    b.rows[0] = (*b.rows[0][:4], -1, *b.rows[0][5:])  # type: ignore[assignment]
    with pytest.raises(DecodeError, match="negative"):
        check_block(b, {})
    with pytest.raises(DecodeError, match="runs"):
        check_block(block(runs=[(5, 9), (3, 4)]), {})
    b = block()
    b.rows[0] = (b.rows[0][0], "/x/../../etc", *b.rows[0][2:])  # type: ignore[assignment]
    with pytest.raises(DecodeError, match=r"\.\."):
        check_block(b, {})
    b = block()
    b.rows[0] = (b.rows[0][0], "//d/./0", *b.rows[0][2:])  # type: ignore[assignment]
    assert check_block(b, {}).rows[0][1] == "d/0"  # canonical, as an event's path is made
    with pytest.raises(DecodeError, match="do not match"):
        expand(block(runs=[(1, 2)]))
