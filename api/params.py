"""Request parameters, declared once: each declaration validates a value and describes itself in OpenAPI.

An endpoint lists its query (or body) parameters; ``parse`` checks every value, rejects unknown and
repeated names, fills defaults, and raises ``BadParameter`` naming the parameter and the problem.
Values come as strings from a query and as JSON values from a body; both are accepted where it makes
sense (a body's size may be ``"500TB"`` or ``500000000000000``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from warpdrive.schemas import periods, units
from warpdrive.schemas.config import Config
from warpdrive.schemas.units import MAX_BYTES, SizeError, parse_size

from .errors import BadParameter

MAX_PATH = 4096
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$"  # team and user ids
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Param:
    name: str
    doc: str
    required: bool = False
    default: Any = None
    nullable: bool = False  # a body value may be JSON null (e.g. a quota's backend = all)

    def parse(self, raw: Any, cfg: Config) -> Any:
        raise NotImplementedError

    def schema(self, cfg: Config) -> dict[str, Any]:
        raise NotImplementedError

    def bad(self, problem: str) -> BadParameter:
        return BadParameter(f"{self.name}: {problem}", param=self.name)

    def openapi_schema(self, cfg: Config) -> dict[str, Any]:
        s = self.schema(cfg)
        if self.default is not None:
            s["default"] = self.default
        if self.nullable:
            s = {"anyOf": [s, {"type": "null"}]}
        return s


@dataclass(frozen=True)
class Int(Param):
    minimum: int = 0
    maximum: int = 2**31 - 1

    def parse(self, raw: Any, cfg: Config) -> int:
        if (
            isinstance(raw, bool)
            or not isinstance(raw, (int, str))
            or (isinstance(raw, str) and not re.fullmatch(r"-?\d{1,19}", raw.strip()))
        ):
            raise self.bad(f"must be a whole number between {self.minimum} and {self.maximum}")
        v = int(raw)
        if not self.minimum <= v <= self.maximum:
            raise self.bad(f"must be between {self.minimum} and {self.maximum}, got {v}")
        return v

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Limit(Int):
    """A page size: at least 1, at most the configured api.max_page_size."""

    minimum: int = 1

    def parse(self, raw: Any, cfg: Config) -> int:
        if raw is self.default:  # the default fits whatever max_page_size is configured
            return min(self.default, cfg.api.max_page_size)
        return Int(self.name, self.doc, minimum=1, maximum=cfg.api.max_page_size).parse(raw, cfg)

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": cfg.api.max_page_size}

    def openapi_schema(self, cfg: Config) -> dict[str, Any]:
        return {**self.schema(cfg), "default": min(self.default, cfg.api.max_page_size)}


@dataclass(frozen=True)
class Size(Param):
    def parse(self, raw: Any, cfg: Config) -> int:
        try:
            return parse_size(raw if isinstance(raw, (int, str)) else str(raw))
        except SizeError as e:
            raise self.bad(str(e)) from None

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_BYTES},
                {
                    "type": "string",
                    "pattern": units.PATTERN,
                    "examples": list(units.EXAMPLES),
                    "description": f"at most {MAX_BYTES} bytes (just under 8 EiB)",
                },
            ]
        }

    def openapi_schema(self, cfg: Config) -> dict[str, Any]:
        s = self.schema(cfg)
        if self.default is not None:
            s["default"] = self.default
        return s


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[str, ...] = ()

    def parse(self, raw: Any, cfg: Config) -> str:
        if raw not in self.choices:
            raise self.bad(f"must be one of {', '.join(self.choices)}, got {str(raw)[:64]!r}")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True)
class Bool(Param):
    def parse(self, raw: Any, cfg: Config) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "false", "0", "no"):
            return raw.lower() in ("true", "1", "yes")
        raise self.bad("must be true or false")

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Name(Param):
    """A team or user id: letters, digits and ``_ . @ + -``, at most 128 characters."""

    def parse(self, raw: Any, cfg: Config) -> str:
        if not isinstance(raw, str) or not re.fullmatch(NAME_RE, raw):
            raise self.bad("must be 1-128 letters, digits or _ . @ + - (starting with a letter or digit)")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "string", "pattern": NAME_RE, "maxLength": 128}


@dataclass(frozen=True)
class Backend(Param):
    """A configured backend's name; ``all`` too when ``allow_all`` (parsed as None = every backend)."""

    allow_all: bool = False

    def parse(self, raw: Any, cfg: Config) -> str | None:
        if self.allow_all and raw == "all":
            return None
        return self.configured(raw, cfg)

    def configured(self, raw: Any, cfg: Config) -> str:
        """``raw`` as the name of a configured backend (never ``all``), else a 400 naming the known ones."""
        names = [b.name for b in cfg.backends]
        if not isinstance(raw, str) or raw not in names:
            known = ", ".join((["all"] if self.allow_all else []) + names) or "none configured"
            raise self.bad(f"unknown backend {str(raw)[:64]!r} (known: {known})")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        names = [b.name for b in cfg.backends]
        return {"type": "string", "enum": (["all"] if self.allow_all else []) + names}


@dataclass(frozen=True)
class PathText(Param):
    """A path or path prefix inside a backend, as the index stores it: no control characters, no '..' part."""

    def parse(self, raw: Any, cfg: Config) -> str:
        if not isinstance(raw, str):
            raise self.bad("must be a string")
        if len(raw) > MAX_PATH:
            raise self.bad(f"longer than {MAX_PATH} characters")
        if _CONTROL.search(raw):
            raise self.bad("contains a control character")
        if ".." in raw.split("/"):
            raise self.bad("may not contain a '..' component")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "string", "maxLength": MAX_PATH, "pattern": r"^[^\x00-\x1f\x7f]*$"}


@dataclass(frozen=True)
class Text(Param):
    """Free text (a note): at most ``max_length`` characters, no control characters except newline/tab."""

    max_length: int = 1000

    def parse(self, raw: Any, cfg: Config) -> str:
        if not isinstance(raw, str) or len(raw) > self.max_length:
            raise self.bad(f"must be a string of at most {self.max_length} characters")
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", raw):
            raise self.bad("contains a control character")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}


@dataclass(frozen=True)
class Period(Param):
    """A number of days: ``30d``, ``12w``, ``1y`` or a plain number of days."""

    def parse(self, raw: Any, cfg: Config) -> int:
        try:
            return periods.parse_period(raw)
        except ValueError as e:
            raise self.bad(str(e)) from None

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "string", "pattern": periods.PATTERN, "examples": list(periods.EXAMPLES)}


@dataclass(frozen=True)
class JsonObject(Param):
    """A JSON object (a body only), checked further by the endpoint."""

    def parse(self, raw: Any, cfg: Config) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.bad("must be a JSON object")
        return raw

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {"type": "object"}


@dataclass(frozen=True)
class Files(Param):
    """A non-empty list of ``{"backend", "path"}`` objects (bulk marks)."""

    max_items: int = 10_000
    _backend: Backend = field(default=Backend("backend", "backend"), repr=False)
    _path: PathText = field(default=PathText("path", "path"), repr=False)

    def parse(self, raw: Any, cfg: Config) -> list[tuple[str, str]]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= self.max_items:
            raise self.bad(f"must be a list of 1 to {self.max_items} {{backend, path}} objects")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) != {"backend", "path"}:
                raise self.bad(f"item {i} must be an object with exactly 'backend' and 'path'")
            try:
                out.append((self._backend.configured(item["backend"], cfg), self._path.parse(item["path"], cfg)))
            except BadParameter as e:
                raise self.bad(f"item {i}: {e.message}") from None
        return out

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {
            "type": "array",
            "minItems": 1,
            "maxItems": self.max_items,
            "items": {
                "type": "object",
                "required": ["backend", "path"],
                "additionalProperties": False,
                "properties": {"backend": self._backend.schema(cfg), "path": self._path.schema(cfg)},
            },
        }


@dataclass(frozen=True)
class Ids(Param):
    """A non-empty list of row ids (positive integers), e.g. dead letters to replay."""

    max_items: int = 10_000

    def parse(self, raw: Any, cfg: Config) -> list[int]:
        if (
            not isinstance(raw, list)
            or not 1 <= len(raw) <= self.max_items
            or not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i < 2**63 for i in raw)
        ):
            raise self.bad(f"must be a list of 1 to {self.max_items} positive integer ids")
        return sorted(set(raw))

    def schema(self, cfg: Config) -> dict[str, Any]:
        return {
            "type": "array",
            "minItems": 1,
            "maxItems": self.max_items,
            "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        }


def parse_query(spec: Iterable[Param], query: Any, cfg: Config) -> dict[str, Any]:
    """Parses a Starlette QueryParams (a multi-dict) against ``spec``."""
    params = {p.name: p for p in spec}
    for key in query.keys():
        if key not in params:
            raise BadParameter(f"{key}: unknown parameter (known: {', '.join(params) or 'none'})", param=key)
        if len(query.getlist(key)) > 1:
            raise BadParameter(f"{key}: given more than once", param=key)
    return _fill(params, {k: query[k] for k in query.keys()}, cfg)


def parse_body(spec: Iterable[Param], body: Any, cfg: Config) -> dict[str, Any]:
    """Parses a decoded JSON body (must be an object) against ``spec``."""
    params = {p.name: p for p in spec}
    if not isinstance(body, dict):
        raise BadParameter("body: must be a JSON object", param="body")
    for key in body:
        if key not in params:
            raise BadParameter(f"{key}: unknown field (known: {', '.join(params)})", param=key)
    return _fill(params, body, cfg)


def _fill(params: Mapping[str, Param], values: Mapping[str, Any], cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in params.items():
        if name not in values:
            if p.required:
                raise BadParameter(f"{name}: required", param=name)
            out[name] = p.parse(p.default, cfg) if p.default is not None else None
        elif values[name] is None and p.nullable:
            out[name] = None
        else:
            out[name] = p.parse(values[name], cfg)
    return out


def page_params(default_limit: int = 100) -> tuple[Param, ...]:
    return (
        Limit("limit", "Page size (at most api.max_page_size).", default=default_limit),
        Int("offset", "Rows to skip.", default=0, minimum=0, maximum=10_000_000),
    )
