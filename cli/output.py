"""Rendering answers as a table (human sizes and times), CSV or JSON (exact bytes, the API's own values)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import orjson
from tabulate import tabulate

from warpdrive.schemas.units import BINARY, format_size

FORMATS = ("table", "csv", "json")


@dataclass(frozen=True)
class Column:
    """One output column: the row key, its table header and how a table shows the value."""

    key: str
    header: str
    kind: str = "text"  # text | size | int | time | bool | pct | list | tree (indented text)
    get: Callable[[dict[str, Any]], Any] | None = None  # derived value instead of row[key]
    family: Callable[[dict[str, Any]], str | None] | None = None  # a size's unit family (units.py), per row

    def value(self, row: dict[str, Any]) -> Any:
        return self.get(row) if self.get else row.get(self.key)


def list_items(doc: Any) -> list[dict[str, Any]]:
    """The rows of a list answer (`{"items": [...], "total": …}`)."""
    return doc.get("items", []) if isinstance(doc, dict) else list(doc or [])


def human_time(value: Any) -> str:
    """`2026-11-25T14:03:07.1Z` → `2026-11-25 14:03` (UTC); dates stay dates."""
    if not value:
        return "-"
    s = str(value)
    if len(s) <= 10:
        return s
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return s
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def ago(value: Any, now: datetime | None = None) -> str:
    """How long ago a timestamp was, e.g. `12s ago`, `3m ago`, `2h ago`, `4d ago`."""
    if not value:
        return "never"
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    secs = max(0, int(((now or datetime.now(timezone.utc)) - dt).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def _cell(kind: str, v: Any, family: str | None = None) -> str:
    if v is None or v == "":
        return "-"
    if kind == "size":
        return format_size(v, family or BINARY)
    if kind == "int":
        return f"{v:,}"
    if kind == "time":
        return human_time(v)
    if kind == "bool":
        return "yes" if v else "no"
    if kind == "pct":
        return f"{v:.1f}%"
    if kind == "list":
        return ", ".join(map(str, v)) if v else "-"
    if isinstance(v, (dict, list)):  # a job's args or progress: JSON, as the API gave it
        return orjson.dumps(v).decode()
    return str(v)


def _raw(v: Any) -> Any:
    # CSV keeps exact values; nested values become JSON so one cell still holds all of it.
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return v


def table(rows: Iterable[dict[str, Any]], columns: list[Column]) -> str:
    body = [[_cell(c.kind, c.value(r), c.family(r) if c.family else None) for c in columns] for r in rows]
    if not body:
        return "(none)"
    align = ["right" if c.kind in ("size", "int", "pct") else "left" for c in columns]
    # Leading spaces are kept where a column is indented on purpose (du's tree); tabulate strips them otherwise.
    return tabulate(
        body,
        headers=[c.header for c in columns],
        colalign=align,
        disable_numparse=True,
        preserve_whitespace=any(c.kind == "tree" for c in columns),
    )


def csv_text(rows: Iterable[dict[str, Any]], columns: list[Column], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow([c.key for c in columns])
    w.writerows([_raw(c.value(r)) for c in columns] for r in rows)
    return buf.getvalue().rstrip("\n")


def json_text(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def render(fmt: str, rows: list[dict[str, Any]], columns: list[Column], document: Any = None) -> str:
    """The output for one answer: `document` (default: the rows) is what JSON prints, unchanged."""
    if fmt == "json":
        return json_text(rows if document is None else document)
    if fmt == "csv":
        return csv_text(rows, columns)
    return table(rows, columns)
