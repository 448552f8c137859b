"""Log formats of `warpdrive backfill` (crawler/logformats.py): parsing, sniffing, user and backend mapping."""

from __future__ import annotations

import orjson
import pytest

from warpdrive.crawler.logformats import BadLine, Resolver, Skip, parse_gcs_audit, parse_jsonl, parse_s3, sniff
from warpdrive.schemas.config import BackendConfig

R = Resolver(
    (
        BackendConfig("s3data", "s3://bucket/data"),
        BackendConfig("s3all", "s3://bucket"),
        BackendConfig("gcs", "gs://gb"),
        BackendConfig("local", "file:///srv/x"),
    ),
    {"arn:aws:iam::123:role/x": "mapped"},
)

S3_LINE = (
    "79a59df900b9 bucket [06/Feb/2026:00:00:38 +0000] 192.0.2.3 arn:aws:iam::123:user/alice 3E57427F3EXAMPLE "
    'REST.GET.OBJECT data/proj%201/x.bin "GET /bucket/data/proj%201/x.bin HTTP/1.1" 200 - 4096 4096 7 6 "-" '
    '"aws-cli/2" - s9lzHYrFp76Z= SigV4 ECDHE-RSA-AES128-SHA AuthHeader bucket.s3.amazonaws.com TLSv1.2 - -'
)


def test_s3_access_log_line() -> None:
    e = parse_s3(S3_LINE, 7, "s3-access-log:s3://logs/a", R)
    assert (e.backend_name, e.path, e.user_id, e.operation, e.bytes_read, e.timestamp, e.seq, e.event_id) == (
        "s3data",
        "proj 1/x.bin",
        "alice",
        "read",
        4096,
        "2026-02-06T00:00:38.000000Z",
        7,
        "s3-access-log:s3://logs/a#7",
    )
    head = parse_s3(S3_LINE.replace("REST.GET.OBJECT data/", "REST.HEAD.OBJECT other/"), 1, "s", R)
    assert (head.backend_name, head.path, head.operation, head.bytes_read) == ("s3all", "other/proj 1/x.bin", "read", 0)
    mapped = parse_s3(S3_LINE.replace("arn:aws:iam::123:user/alice", "arn:aws:iam::123:role/x"), 1, "s", R)
    assert mapped.user_id == "mapped"
    with pytest.raises(Skip, match="REST.GET.BUCKET"):
        parse_s3(S3_LINE.replace("REST.GET.OBJECT", "REST.GET.BUCKET"), 1, "s", R)
    with pytest.raises(Skip, match="failed"):
        parse_s3(S3_LINE.replace(" 200 - ", " 404 NoSuchKey "), 1, "s", R)
    with pytest.raises(Skip, match="unknown backend"):
        parse_s3(S3_LINE.replace(" bucket [", " elsewhere ["), 1, "s", R)
    with pytest.raises(BadLine):
        parse_s3("garbage line", 1, "s", R)
    with pytest.raises(BadLine, match="time"):
        parse_s3(S3_LINE.replace("06/Feb/2026", "06/Fbr/2026"), 1, "s", R)


def test_gcs_audit_log_line() -> None:
    doc = {
        "protoPayload": {
            "methodName": "storage.objects.get",
            "authenticationInfo": {"principalEmail": "bob@x.org"},
            "resourceName": "projects/_/buckets/gb/objects/d/f.bin",
        },
        "timestamp": "2026-03-01T10:00:00.5Z",
    }
    e = parse_gcs_audit(orjson.dumps(doc).decode(), 3, "g", R)
    assert (e.backend_name, e.path, e.user_id, e.operation) == ("gcs", "d/f.bin", "bob@x.org", "read")
    doc["protoPayload"]["methodName"] = "storage.buckets.get"  # type: ignore[index]
    with pytest.raises(Skip):
        parse_gcs_audit(orjson.dumps(doc).decode(), 3, "g", R)
    with pytest.raises(BadLine):
        parse_gcs_audit('{"x": 1}', 3, "g", R)


def test_jsonl_line() -> None:
    line = orjson.dumps(
        {
            "timestamp": "2026-01-01T00:00:00Z",
            "user_id": "u",
            "backend_name": "local",
            "path": "/a/b",
            "operation": "read",
            "bytes_read": 10,
            "cache_hit": False,
            "node_host": "n1",
            "latency_ms": 1.5,
            "error": None,
        }
    ).decode()
    e = parse_jsonl(line, 2, "jsonl:file:///h", R)
    assert (e.path, e.bytes_read, e.node_host, e.seq, e.weight) == ("/a/b", 10, "n1", 2, 1.0)  # seq: its line
    with pytest.raises(BadLine, match="bytes_read"):
        parse_jsonl(line.replace("10", '"10"'), 2, "s", R)
    with pytest.raises(BadLine, match="operation"):
        parse_jsonl(line.replace('"read"', '"slurp"'), 2, "s", R)
    with pytest.raises(Skip, match="unknown backend"):
        parse_jsonl(line.replace('"local"', '"nope"'), 2, "s", R)


def test_sniff() -> None:
    assert sniff(["", S3_LINE]) == "s3-access-log"
    assert sniff(['{"timestamp": "x"}']) == "jsonl"
    assert sniff(['{"protoPayload": {}}']) == "gcs-audit-log"
    assert sniff(["hello world"]) is None


# A GCS usage log as Cloud Storage writes it (header, then one quoted CSV line per request).
GCS_USAGE = """"time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status","cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent","s_request_id","cs_operation","cs_bucket","cs_object"
"1772359200123456","10.1.2.3","1","","GET","/download/storage/v1/b/gb/o/d%2Ff%20x.bin?generation=1&alt=media","200","0","4096","2300","storage.googleapis.com","","gcloud-python/2.14.0,gzip(gfe)","ADPycdtEXAMPLE1","GET_Object","gb","d/f%20x.bin"
"1772359201000000","2001:db8::1","2","","HEAD","/storage/v1/b/gb/o/d%2Fg.bin","200","0","0","900","storage.googleapis.com","","curl/8.5.0","ADPycdtEXAMPLE2","GET_Object_Metadata","gb","d/g.bin"
"1772359202000000","10.1.2.3","1","","POST","/upload/storage/v1/b/gb/o?uploadType=media&name=d%2Fnew.bin","200","1048576","512","51000","storage.googleapis.com","","gcloud-python/2.14.0","ADPycdtEXAMPLE3","POST_Object","gb","d/new.bin"
"1772359203000000","10.1.2.3","1","","GET","/storage/v1/b/gb/o?prefix=d%2F","200","0","2048","3000","storage.googleapis.com","","gcloud-python/2.14.0","ADPycdtEXAMPLE4","GET_Bucket","gb",""
"1772359204000000","10.1.2.4","1","","GET","/download/storage/v1/b/gb/o/d%2Fmissing.bin?alt=media","404","0","180","700","storage.googleapis.com","","gcloud-python/2.14.0","ADPycdtEXAMPLE5","GET_Object","gb","d/missing.bin"
"1772359205000000","10.1.2.4","1","","GET","/download/storage/v1/b/other/o/x?alt=media","200","0","10","700","storage.googleapis.com","","gcloud-python/2.14.0","ADPycdtEXAMPLE6","GET_Object","other","x"
"1772359206000000","10.1.2.4","1","","DELETE","/storage/v1/b/gb/o/d%2Fold.bin","204","0","0","800","storage.googleapis.com","","gcloud-python/2.14.0","ADPycdtEXAMPLE7","DELETE_Object","gb","d/old.bin"
"17723592xx000000","10.1.2.4","1","","GET","/x","200","0","10","700","storage.googleapis.com","","ua","ADPycdtEXAMPLE8","GET_Object","gb","d/f"
"1772359207000000","10.1.2.4","1","","GET"
"""


def test_gcs_usage_log_lines() -> None:
    from warpdrive.crawler.logformats import parse_gcs_usage

    rows = GCS_USAGE.splitlines()
    users = Resolver(R.backends, {"10.1.2.3": "alice"})
    e = parse_gcs_usage(rows[1], 2, "gcs-usage-log:gs://logs/u", users)
    assert (e.backend_name, e.path, e.user_id, e.operation, e.bytes_read, e.timestamp, e.latency_ms, e.event_id) == (
        "gcs",
        "d/f x.bin",
        "alice",
        "read",
        4096,
        "2026-03-01T10:00:00.123456Z",
        2.3,
        "gcs-usage-log:gs://logs/u#2",
    )
    head = parse_gcs_usage(rows[2], 3, "s", users)
    assert (head.path, head.user_id, head.operation, head.bytes_read) == ("d/g.bin", "2001:db8::1", "read", 0)
    for row, reason in (
        (rows[0], "CSV header"),
        (rows[3], "method POST"),
        (rows[4], "bucket request"),
        (rows[5], "failed request"),
        (rows[6], "unknown backend"),
        (rows[7], "method DELETE"),
    ):
        with pytest.raises(Skip, match=reason):
            parse_gcs_usage(row, 1, "s", users)
    with pytest.raises(BadLine, match="time_micros"):
        parse_gcs_usage(rows[8], 9, "s", users)
    with pytest.raises(BadLine, match="5 fields"):
        parse_gcs_usage(rows[9], 10, "s", users)
    assert sniff(rows[:3]) == "gcs-usage-log" and sniff(rows[1:3]) == "gcs-usage-log"
