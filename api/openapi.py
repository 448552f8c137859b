"""The OpenAPI 3.1 document, built from the endpoint declarations plus the response schemas below."""

from __future__ import annotations

from typing import Any

from warpdrive.schemas import jobs
from warpdrive.schemas.config import Config

from .params import Param
from .responses import JSONResponse
from .routing import Call, Endpoint

TS = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": ["string", "null"], "format": "date"}
INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object", "additionalProperties": True}  # free-form (else the generated type admits no key)


def obj(props: dict[str, Any], required: list[str] | None = None, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def page(item: str, **more: Any) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": ref(item)}, "total": INT, "limit": INT, "offset": INT, **more})


def listing(item: str) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": ref(item)}, "total": INT})


# A dead letter as listed; one shown alone adds its payload.
_DEAD_LETTER: dict[str, Any] = {
    "id": INT,
    "consumer": STR,
    "topic": STR,
    "partition": INT,
    "offset": INT,
    "record": {"type": ["integer", "null"]},
    "key": {"type": ["string", "null"]},
    "error": STR,
    "received_at": TS,
    "size_bytes": INT,
}

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        {"error": obj({"status": INT, "code": STR, "message": STR, "param": STR}, ["status", "code", "message"])}
    ),
    "Status": obj(
        {
            "status": STR,
            "postgres": BOOL,
            "kafka": BOOL,
            "kafka_producer": BOOL,
            "commands_pending": INT,
            "dead_letters": INT,
        },
        ["status"],
    ),
    "UsageRow": obj(
        {
            "team": STR,
            "user": STR,
            "backend": STR,
            "file_count": INT,
            "total_bytes": INT,
            "last_access": TS,
            "read_count": INT,
            "bytes_read": INT,
            "last_read": TS,
            "backends": {"type": "array", "items": STR},
        },
        ["file_count", "total_bytes", "last_access"],
    ),
    "Usage": obj(
        {
            "group_by": {"enum": ["team", "user", "backend"]},
            "backend": STR,
            "team": STR,
            "per_backend": BOOL,
            "items": {"type": "array", "items": ref("UsageRow")},
            "total": INT,
            "limit": INT,
            "offset": INT,
            "total_bytes": INT,
            "file_count": INT,
            "period_days": INT,
            "read_count": INT,
            "bytes_read": INT,
        },
        ["group_by", "backend", "items", "total", "limit", "offset", "total_bytes", "file_count"],
    ),
    # Where read evidence comes from (schemas/stale.py); covers_period only in the stale list.
    "Coverage": obj(
        {
            "since": TS,
            "covers_period": BOOL,
            "from_atime": BOOL,
            "telemetry_since": TS,
            "telemetry_until": TS,
            # Imported history per log format: its first and last event, events, and days with events.
            "history": {
                "type": "array",
                "items": obj({"format": STR, "since": TS, "until": TS, "events": INT, "days": INT}),
            },
            "atime": {"enum": ["off", "strict", "relatime"]},
            "first_crawl": TS,
            "note": STR,
            # Runs of days without read evidence (missing logs), oldest first: nothing before the last one counts.
            "holes": {
                "type": "array",
                "items": obj(
                    {
                        "first": {"type": "string", "format": "date"},
                        "last": {"type": "string", "format": "date"},
                        "days": INT,
                    }
                ),
            },
        },
        ["since", "from_atime", "telemetry_since", "history", "atime", "first_crawl", "note", "holes"],
    ),
    "StaleFile": obj(
        {
            "backend": STR,
            "path": STR,
            "size_bytes": INT,
            "last_modified": TS,
            "last_access": TS,
            "owner_team": STR,
            "owner_user": NSTR,
            "marked": BOOL,
            "coverage_ok": BOOL,
        }
    ),
    # total_basis: rollup (exact, from the tree's or the owners' activity weeks; scope_* = every live file of the
    # filter's scope), count (exact, counted) or bound (counting stopped: lower bounds). scope_* are null unless from
    # the rollup.
    "StaleList": page(
        "StaleFile",
        days=INT,
        threshold={"type": "string", "format": "date-time"},
        total_bytes=INT,
        total_exact=BOOL,
        total_basis={"enum": ["rollup", "count", "bound"]},
        scope_files={"type": ["integer", "null"]},
        scope_bytes={"type": ["integer", "null"]},
        coverage={"type": "object", "additionalProperties": ref("Coverage")},
    ),
    "GrowthPoint": obj(
        {
            "date": {"type": "string", "format": "date"},
            "total_bytes": INT,
            "file_count": INT,
            "added_bytes": INT,
            "removed_bytes": INT,
            "reconstructed": BOOL,
        }
    ),
    # reconstructed_until: before this day totals are reconstructed from modification times (a lower bound).
    "Growth": obj(
        {
            "backend": STR,
            "team": STR,
            "period_days": INT,
            "points": {"type": "array", "items": ref("GrowthPoint")},
            "reconstructed_until": {"type": ["string", "null"], "format": "date"},
        }
    ),
    "UserDetail": obj(
        {
            "user": STR,
            "teams": {"type": "array", "items": STR},
            "owned": {
                "type": "array",
                "items": obj({"backend": STR, "file_count": INT, "total_bytes": INT, "last_access": TS}),
            },
            "reads": {
                "type": "array",
                "items": obj(
                    {
                        "backend": STR,
                        "read_count": INT,
                        "bytes_read": INT,
                        "write_count": INT,
                        "bytes_written": INT,
                        "files_accessed": INT,
                        "last_access": TS,
                    }
                ),
            },
            "top_files": {
                "type": "array",
                "items": obj(
                    {
                        "backend": STR,
                        "path": STR,
                        "size_bytes": INT,
                        "last_modified": TS,
                        "last_access": TS,
                        "owner_team": STR,
                    }
                ),
            },
            "top_read": {
                "type": "array",
                "items": obj({"backend": STR, "path": STR, "read_count": INT, "bytes_read": INT, "last_access": TS}),
            },
        }
    ),
    "Crawl": obj(
        {
            "crawl_id": STR,
            "prefix": STR,
            "started_at": TS,
            "finished_at": TS,
            "status": {"enum": ["running", "complete", "partial", "failed"]},
            "files": INT,
            "bytes": INT,
            "errors": INT,
        }
    ),
    "Backend": obj(
        {
            "name": STR,
            "url": STR,
            "scheme": STR,
            "max_tree_depth": INT,
            "file_count": INT,
            "total_bytes": INT,
            "last_access": TS,
            "last_crawl": {"anyOf": [ref("Crawl"), {"type": "null"}]},
            "coverage_since": TS,
            "last_event": TS,
            "coverage": ref("Coverage"),
        }
    ),
    "BackendList": listing("Backend"),
    "Quota": obj(
        {
            "id": INT,
            "team": STR,
            "backend": NSTR,
            "soft_limit": INT,
            "hard_limit": INT,
            "usage_bytes": INT,
            "level": {"enum": ["ok", "soft", "hard", None]},
            "level_changed_at": TS,
            "unit_family": {"enum": ["binary", "decimal"]},
        }
    ),
    "QuotaList": listing("Quota"),
    "Membership": obj({"user": STR, "team": STR}),
    "TeamList": page("Membership"),
    "Rule": obj({"id": INT, "backend": STR, "prefix": STR, "team": STR, "user": NSTR, "created_at": TS}),
    "RuleList": page("Rule"),
    "Mark": obj(
        {
            "backend": STR,
            "path": STR,
            "marked_by": NSTR,
            "marked_at": TS,
            "note": NSTR,
            "size_bytes": {"type": ["integer", "null"]},
            "last_access": TS,
            "owner_team": NSTR,
            "owner_user": NSTR,
            "exists": BOOL,
            "read_since_mark": BOOL,
        }
    ),
    "MarkList": page("Mark", total_bytes=INT, read_since_mark=INT),
    "MarkFilterResult": obj({"marked": INT, "total_bytes": INT}),
    "MarkResult": obj({"marked": INT}),
    "DeadLetterItem": obj(_DEAD_LETTER),
    "DeadLetterList": page("DeadLetterItem", by_topic={"type": "object", "additionalProperties": INT}),
    "DeadLetter": obj(
        {
            **_DEAD_LETTER,
            "payload_base64": STR,
            "payload_preview": STR,
            "payload_truncated": BOOL,
        }
    ),
    "ReplayResult": obj({"replayed": INT, "foreign": INT, "missing": INT}),
    "DropResult": obj({"dropped": INT, "missing": INT}),
    "UnmarkResult": obj({"unmarked": INT}),
    "Job": obj(
        {
            "job_id": STR,
            "kind": {"enum": list(jobs.KINDS)},
            "args": ANY_OBJ,
            "state": {"enum": list(jobs.STATES)},
            "progress": ANY_OBJ,
            "error": NSTR,
            "created_by": NSTR,
            "created_at": TS,
            "updated_at": TS,
        }
    ),
    "JobList": page("Job"),
    # Deletion jobs of marked files (api/trash.py).
    "TrashFile": obj(
        {
            "backend": STR,
            "path": STR,
            "size_bytes": {"type": ["integer", "null"]},
            "marked_by": NSTR,
            "marked_at": TS,
            "last_modified": TS,
            "last_access": TS,
            "reason": STR,
        },
        ["backend", "path", "size_bytes", "marked_by", "marked_at"],
    ),
    "TrashPlan": obj(
        {
            "total": INT,
            "total_bytes": INT,
            "retention_days": {"type": "number"},
            "trash_prefix": STR,
            "files": {"type": "array", "items": ref("TrashFile")},
            "held": {"type": "array", "items": ref("TrashFile")},
            "held_total": INT,
        }
    ),
    "Agent": obj(
        {"node_host": STR, "last_heartbeat": TS, "age_seconds": NUM, "alive": BOOL, "status": ref("AgentStatus")}
    ),
    # The latest heartbeat as the agent sent it (schemas/records.py AgentStatus; agent/node.py fills it), passed
    # through as stored: every part optional, and each admits more fields (a newer agent may report more; the
    # telemetry part depends on the sink).
    "AgentStatus": obj(
        {
            "node_host": STR,
            "timestamp": STR,
            "mounts": {
                "type": "array",
                "items": obj(
                    {
                        "mountpoint": STR,
                        "backends": {"type": "array", "items": STR},
                        "since": STR,
                        "open_handles": INT,
                        "errors": INT,
                    },
                    [],
                    extra=True,
                ),
            },
            "backends": {
                "type": "object",
                "additionalProperties": obj(
                    {"reachable": BOOL, "latency_ms": NUM, "error": STR}, ["reachable"], extra=True
                ),
            },
            "cache": obj(
                {"bytes": INT, "max_bytes": INT, "blocks": INT, "hits": INT, "misses": INT, "hit_rate": NUM},
                [],
                extra=True,
            ),
            "telemetry": obj(
                {
                    "enabled": BOOL,
                    "queue_depth": INT,
                    "queue_size": INT,
                    "recorded": INT,
                    "sent": INT,
                    "dropped": INT,
                    "boot_id": STR,
                    "sink": STR,
                    "spool_bytes": INT,
                },
                [],
                extra=True,
            ),
            "jobs": {"type": "object", "additionalProperties": ANY_OBJ},
        },
        [],
        extra=True,
    ),
    "AgentList": listing("Agent"),
    "TreeRow": obj(
        {
            "path": STR,
            "name": STR,
            "depth": INT,
            "is_dir": BOOL,
            "total_bytes": INT,
            "file_count": INT,
            "bytes_by_team": {"type": "object", "additionalProperties": INT},
            "stale_bytes": {"type": "object", "additionalProperties": INT},
            "stale_files": {"type": "object", "additionalProperties": INT},
            "never_read_bytes": INT,
            "newest_modified": DATE,
            "oldest_modified": DATE,
            "last_access": DATE,
            "files_here": {"type": ["integer", "null"]},
            "bytes_here": {"type": ["integer", "null"]},
        },
        [
            "path",
            "name",
            "depth",
            "is_dir",
            "total_bytes",
            "file_count",
            "bytes_by_team",
            "stale_bytes",
            "stale_files",
            "never_read_bytes",
            "newest_modified",
            "oldest_modified",
            "last_access",
        ],
    ),
    "Tree": obj(
        {
            "backend": STR,
            "prefix": STR,
            "sort": STR,
            "stale_days": {"type": "array", "items": INT},
            "breadcrumbs": {"type": "array", "items": obj({"path": STR, "name": STR})},
            "self": ref("TreeRow"),
            "items": {"type": "array", "items": ref("TreeRow")},
            "total": INT,
            "total_exact": BOOL,
            "limit": INT,
            "offset": INT,
            "next_after": {"type": ["string", "null"]},
        }
    ),
}

# A deletion job as the trash list shows it: the job and what became of its trash.
_TRASH_JOB = {
    **SCHEMAS["Job"]["properties"],
    "expires_at": TS,
    "restore_job": NSTR,
    "status": {"enum": ["running", "restorable", "restored", "expired", "purged", "cancelled"]},
}
SCHEMAS["Trash"] = obj(_TRASH_JOB)
SCHEMAS["TrashList"] = page("Trash")
SCHEMAS["TrashDetail"] = obj(
    {**_TRASH_JOB, "files": {"type": "array", "items": ref("TrashFile")}, "limit": INT, "offset": INT}
)

_ERRORS = {
    400: "Bad parameter (the body names it)",
    401: "Missing or invalid token",
    403: "The token's role may not do this, or a cross-site request or a Host this API does not serve",
    404: "Not found",
    409: "Conflict with the current state",
    415: "The body is not application/json",
    503: "PostgreSQL unavailable (or did not answer in time); retry",
}


def _param(p: Param, where: str, cfg: Config) -> dict[str, Any]:
    return {
        "name": p.name,
        "in": where,
        "required": p.required or where == "path",
        "description": p.doc,
        "schema": p.openapi_schema(cfg),
    }


def _operation(ep: Endpoint, cfg: Config) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{ep.path.strip('/').replace('/', '_').replace('{', '').replace('}', '').replace('.', '_')}",
        "summary": ep.summary,
        "tags": [ep.tag],
        "parameters": [_param(p, "path", cfg) for p in ep.path_params] + [_param(p, "query", cfg) for p in ep.query],
    }
    if ep.body:
        props = {p.name: {**p.openapi_schema(cfg), "description": p.doc} for p in ep.body}
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": obj(props, [p.name for p in ep.body if p.required])}},
        }
    responses: dict[str, Any] = {}
    for status in (ep.status, *(s for s in ep.extra_statuses if s < 300)):
        if ep.media != "application/json":
            responses[str(status)] = {"description": ep.summary, "content": {ep.media: {"schema": STR}}}
        elif ep.response is None:
            responses[str(status)] = {"description": "Done (no body)"}
        else:
            content: dict[str, Any] = {"application/json": {"schema": ref(ep.response)}}
            if ep.csv:
                content["text/csv"] = {"schema": STR}
            responses[str(status)] = {"description": ep.summary, "content": content}
    # Every endpoint validates its query (a stray parameter is a 400); public ones need no token; PostgreSQL
    # being unreachable is a 503 wherever it is read.
    errors = [400, 403] if ep.public else [400, 401, 403, 503]
    if ep.method != "GET":
        errors.append(415)
    for status in (*errors, *(s for s in ep.extra_statuses if s >= 400)):
        responses[str(status)] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    op["responses"] = responses
    if ep.public:
        op["security"] = []
    return op


def document(cfg: Config, endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, cfg)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WarpDrive Governance control-plane API",
            "version": "1",
            "description": "Who owns what data, where; stale data, growth, quotas. Sizes are integers of bytes; "
            "timestamps RFC 3339 UTC. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from [[api.tokens]]: viewer for GETs, admin for changes.",
                }
            },
        },
    }


async def openapi_json(call: Call) -> JSONResponse:
    return JSONResponse(call.request.app.state.openapi)


ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/openapi.json", openapi_json, "This OpenAPI document", "meta", public=True, response="OpenAPI"
    ),
)
SCHEMAS["OpenAPI"] = {"type": "object"}
