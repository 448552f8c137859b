"""Response bodies: orjson JSON (RFC 3339 UTC timestamps with Z, exact integer sizes) and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

import orjson
from starlette.responses import Response, StreamingResponse

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


def _cell(v: Any) -> Any:
    if isinstance(v, datetime):
        return orjson.dumps(v, option=JSON_OPTIONS).decode().strip('"')
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return "" if v is None else v


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record (a streamed body writes them one batch at a time)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_cell(v) for v in values])
    return buf.getvalue()


def csv_response(
    columns: Sequence[str], rows: Iterable[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


STREAM_BATCH = 2000  # rows fetched per round trip while streaming


def csv_stream(
    pool: Any,
    sql: str,
    args: Sequence[Any],
    columns: Sequence[str],
    item: Callable[[Any], dict[str, Any]],
    filename: str,
) -> StreamingResponse:
    """Every row of ``sql`` as CSV, streamed from a server-side cursor: memory stays one batch whatever the count.
    The connection is taken when the body starts and returned when it ends (or the client goes away)."""

    async def body() -> AsyncIterator[str]:
        yield csv_line(columns)
        async with pool.acquire() as conn, conn.transaction():
            cur = await conn.cursor(sql, *args)
            while rows := await cur.fetch(STREAM_BATCH):
                yield "".join(csv_line([it.get(c) for c in columns]) for it in map(item, rows))

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
