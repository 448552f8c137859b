"""Building WHERE clauses from constant fragments: only the filters a request gives, every value bound
as a parameter (never SQL from user text). PostgreSQL then plans each shape on its own, instead of one
generic plan where ``$n IS NULL OR col = $n`` keeps an index from being used."""

from __future__ import annotations

from typing import Any

# Above every character a path can hold: the upper end of a prefix's byte-wise range.
_MAX_CHAR = "\U0010ffff"


class Where:
    def __init__(self, *conds: str) -> None:
        self.conds: list[str] = list(conds)
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        """Binds ``value`` as the next parameter; returns its ``$n`` for a fragment written elsewhere."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str, *values: Any) -> None:
        """``fragment`` names its values ``{0}``, ``{1}``…; they become the next ``$n`` parameters."""
        self.conds.append(fragment.format(*(self.param(v) for v in values)))

    def prefix(self, column: str, prefix: str) -> None:
        """``column`` starts with ``prefix``, as a byte-wise range: an index on a ``COLLATE "C"`` column serves it
        (storage_files.path, deletion_marks.path); on any other column it is still byte-wise, as a filter."""
        self.add(
            f'{column} >= {{0}} COLLATE "C" AND {column} < {{1}} COLLATE "C" AND starts_with({column}, {{0}})',
            prefix,
            prefix + _MAX_CHAR,
        )

    def next_param(self, offset: int = 1) -> str:
        return f"${len(self.args) + offset}"

    def sql(self) -> str:
        return " AND ".join(self.conds) or "TRUE"
