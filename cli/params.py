"""Option types: sizes, periods and `BACKEND:PATH` locations, rejected with a one-line usage error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import click

from warpdrive.schemas.periods import parse_period
from warpdrive.schemas.units import parse_size

# Backend names as the config allows them (schemas.config._check_backend).
_BACKEND = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class SizeType(click.ParamType):
    """A size such as 500TB, 1.5TiB, 10GB, 10GiB, 1.5T or plain bytes, converted to bytes."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "SIZE"


class PeriodType(click.ParamType):
    """A period (schemas/periods.py: `30d`, `12w`, `1y` or a plain number of days), converted to days."""

    name = "period"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_period(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "PERIOD"


@dataclass(frozen=True)
class Location:
    """A path on a backend as typed: `s3:datasets/x`; `backend` is None when the user gave only a path."""

    backend: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.path}" if self.backend else self.path


class LocationType(click.ParamType):
    """`BACKEND:PATH` (or a bare PATH, resolved later against the known backends)."""

    name = "location"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Location:
        if isinstance(value, Location):
            return value
        head, sep, tail = str(value).partition(":")
        if sep and _BACKEND.fullmatch(head):
            return Location(head, tail)
        if sep and not head:
            self.fail(
                f"invalid location {value!r}: name the backend before the colon, e.g. s3:datasets/run1", param, ctx
            )
        return Location(None, str(value))

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[BACKEND:]PATH"


SIZE = SizeType()
PERIOD = PeriodType()
LOCATION = LocationType()
