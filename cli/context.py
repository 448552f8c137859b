"""What every command shares: where the control plane is, the token, the output format, the client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import click

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.errors import SchemaError

from .client import Client
from .errors import ApiError, CtlError
from .output import FORMATS, Column, csv_text, json_text, list_items, render
from .params import Location

TABLE_ROWS = 100  # rows a table shows without --limit; CSV and JSON get every row
PAGE_ROWS = 1000  # rows asked per request when fetching every row (less if the API's max_page_size is lower)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Ctl:
    control_plane: str | None
    token: str | None
    config_path: str | None
    fmt: str
    timeout: float
    _client: Client | None = field(default=None, repr=False)

    def base_url(self) -> str:
        """--control-plane / WARPDRIVE_CONTROL_PLANE, else the config file's `api.base_url`."""
        if self.control_plane:
            return self.control_plane
        try:
            cfg = wconfig.load(self.config_path)
        except SchemaError as e:
            raise CtlError(f"{e} (or pass --control-plane URL)") from None
        return cfg.api.base_url

    @property
    def client(self) -> Client:
        # Created on first use, so `--help` and usage errors never read the config or open a connection.
        if self._client is None:
            self._client = Client(self.base_url(), self.token, self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def resolve(self, location: Location) -> tuple[str, str]:
        """(backend, path) of a location; without `BACKEND:` it must name a backend, or only one may exist."""
        if location.backend:
            return location.backend, location.path
        names = [b["name"] for b in list_items(self.client.get("/api/v1/backends"))]
        if location.path in names:
            return location.path, ""
        if len(names) == 1:
            return names[0], location.path
        raise CtlError(f"{location.path!r}: name the backend as BACKEND:PATH (backends: {', '.join(names) or 'none'})")

    def emit(
        self, rows: list[dict[str, Any]], columns: list[Column], document: Any = None, notes: list[str] | None = None
    ) -> None:
        """Prints an answer; `notes` (totals, paging, caveats) follow a table only, so CSV/JSON stay parseable."""
        click.echo(render(self.fmt, rows, columns, document))
        if self.fmt == "table":
            total = document.get("total") if isinstance(document, dict) and "items" in document else None
            if isinstance(total, int) and total > len(rows) and not notes:
                notes = [f"{len(rows)} of {total:,} shown (--limit/--offset for more)"]
            for note in notes or []:
                click.echo(note, err=True)  # stdout stays the table alone, for `| sort` and friends

    def pages(self, path: str, params: dict[str, Any], offset: int = 0) -> Iterator[dict[str, Any]]:
        """Every page of a list from ``offset`` on, as the API answers them (pages of PAGE_ROWS, or of the API's
        max_page_size when that is lower, as its 400 names it)."""
        size = PAGE_ROWS
        while True:
            try:
                doc = self.client.get(path, **params, limit=size, offset=offset)
            except ApiError as e:
                m = re.search(r"between 1 and (\d+)", str(e))
                if e.param != "limit" or not m or int(m[1]) >= size:
                    raise
                size = int(m[1])
                continue
            yield doc
            got = len(list_items(doc))
            offset += got
            total = doc.get("total") if isinstance(doc, dict) else None
            if got < size or (isinstance(total, int) and doc.get("total_exact", True) and offset >= total):
                return

    def emit_list(
        self,
        path: str,
        params: dict[str, Any],
        columns: list[Column],
        limit: int | None,
        offset: int,
        notes: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> dict[str, Any] | None:
        """A list command's output. A table shows one page (--limit, default TABLE_ROWS) with its notes; CSV and
        JSON without --limit carry every row, fetched page by page (CSV printed as each page arrives)."""
        if self.fmt == "table" or limit is not None:
            doc = self.client.get(path, **params, limit=limit or TABLE_ROWS, offset=offset)
            self.emit(list_items(doc), columns, doc, notes(doc) if notes else None)
            return doc
        first: dict[str, Any] | None = None
        items: list[dict[str, Any]] = []
        for doc in self.pages(path, params, offset):
            rows = list_items(doc)
            if self.fmt == "csv":
                text = csv_text(rows, columns, header=first is None)
                if text:
                    click.echo(text)
            else:
                items += rows
            first = first or doc
        if self.fmt == "json" and first is not None:
            click.echo(json_text({**first, "items": items, "limit": len(items), "offset": offset}))
        return first

    def say(self, message: str, document: Any) -> None:
        """Reports a change: a sentence for table/CSV, the API's answer as it is for JSON."""
        if self.fmt == "json":
            click.echo(render("json", [], [], document))
        else:
            click.echo(message)


pass_ctl = click.make_pass_decorator(Ctl)


def examples(*lines: str) -> str:
    """A command's epilog: its examples, kept verbatim by click."""
    return "\b\nExamples:\n" + "\n".join(f"  warpdrive-ctl {line}" for line in lines)


def _set_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Ctl).fmt = value  # type: ignore[union-attr]


def page_options(f: F) -> F:
    """--limit and --offset of a list command (the API caps a page at its api.max_page_size)."""
    f = click.option("--offset", type=click.IntRange(min=0), default=0, help="Rows to skip (paging).")(f)
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=None,
        help=f"Rows to show [default: {TABLE_ROWS} in a table; every row with --format csv or json].",
    )(f)


def format_option(f: F) -> F:
    """`--format` on a command too (`warpdrive-ctl stale --format csv`), overriding the global one."""
    return click.option(
        "--format",
        "-o",
        type=click.Choice(FORMATS),
        expose_value=False,
        callback=_set_format,
        help="Output format (overrides the global --format).",
    )(f)
