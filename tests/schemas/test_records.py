"""Event records: encoding, strict decoding, JSON-schema files."""

from __future__ import annotations

import pytest

from warpdrive.schemas import records as r
from warpdrive.schemas.errors import DecodeError


def access(**kw: object) -> r.AccessEvent:
    base = dict(
        event_id="n1/b/1",
        timestamp=r.utc_now(),
        user_id="alice",
        backend_name="s3",
        path="a/b.bin",
        operation="read",
        node_host="n1",
        bytes_read=4096,
        count=3,
        cache_hits=1,
    )
    return r.AccessEvent(**{**base, **kw})  # type: ignore[arg-type]


def test_batch_round_trip() -> None:
    events = [access(seq=i, event_id=f"n1/b/{i}") for i in range(5)]
    raw = r.encode_batch(events)
    assert r.decode_batch(raw, expect=r.AccessEvent) == events


def test_single_record_round_trip() -> None:
    q = r.QuotaBreach(
        team="vision",
        backend_name=None,
        level="hard",
        previous_level="soft",
        usage_bytes=10,
        soft_limit=5,
        hard_limit=8,
        timestamp=r.utc_now(),
    )
    assert r.decode(r.encode(q), expect=r.QuotaBreach) == q


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "empty message"),
        (b"\xff\xfe", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"v": 9, "type": "access", "records": []}', "unsupported version 9"),
        (b'{"v": 1, "type": "telepathy", "records": []}', "unknown record type"),
        (b'{"v": 1, "type": "access"}', "missing required field `records`"),
        (b'{"v": 1, "type": "access", "records": [5]}', r"Expected `object`, got `int` - at `\$.records\[0\]`"),
        (b'{"v": 1, "type": "access", "records": [{"event_id": "x"}]}', "missing required field `timestamp`"),
    ],
)
def test_malformed_batches_are_rejected_clearly(raw: bytes | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        r.decode_batch(raw)


def test_wrong_types_and_unknown_fields() -> None:
    event = access()
    good = r.encode_batch([event])
    with pytest.raises(DecodeError, match=r"Expected `int`, got `str` - at `\$.records\[0\].bytes_read`"):
        r.decode_batch(good.replace(b'"bytes_read":4096', b'"bytes_read":"4096"'))
    with pytest.raises(DecodeError, match=r"Expected `int`, got `bool` - at `\$.records\[0\].count`"):
        r.decode_batch(good.replace(b'"count":3', b'"count":true'))
    # Forward compatible: a field added by a newer producer is ignored, the rest still checked.
    (rec,) = r.decode_batch(good.replace(b'"count":3', b'"count":3,"colour":"red"'))
    assert rec == event
    with pytest.raises(DecodeError, match="expected listing records"):
        r.decode_batch(good, expect=r.ListingEvent)
    with pytest.raises(DecodeError, match=r"quota_breach record: Expected `int`, got `str` - at `\$.usage_bytes`"):
        q = r.QuotaBreach(
            team="t",
            backend_name=None,
            level="hard",
            previous_level="ok",
            usage_bytes=1,
            soft_limit=1,
            hard_limit=1,
            timestamp=r.utc_now(),
        )
        r.decode(r.encode(q).replace(b'"usage_bytes":1', b'"usage_bytes":"1"'))


def test_timestamps_are_utc_with_z_so_the_day_is_a_prefix() -> None:
    ts = r.format_ts(86400 * 365.25 * 30)
    assert ts.endswith("Z") and ts[:10] == r.parse_ts(ts).date().isoformat()
    with pytest.raises(DecodeError):
        r.parse_ts("2026-01-01T00:00:00")  # no zone
    with pytest.raises(DecodeError):
        r.parse_ts("yesterday")
