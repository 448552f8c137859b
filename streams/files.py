"""The state of one live file that the rollups depend on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

Owner = tuple[str, str, str]  # (backend, team, user or '')


@dataclass(frozen=True, slots=True)
class FileState:
    backend: str
    path: str
    team: str
    user: str | None
    size: int
    last_access: datetime | None
    last_modified: datetime | None

    @property
    def owner(self) -> Owner:
        return (self.backend, self.team, self.user or "")

    @classmethod
    def of(cls, row: Mapping[str, Any], **changes: Any) -> "FileState":
        """From a storage_files row (owner_team, owner_user, size_bytes, last_access, last_modified)."""
        s = cls(
            row["backend_name"],
            row["path"],
            row["owner_team"],
            row["owner_user"],
            row["size_bytes"],
            row["last_access"],
            row["last_modified"],
        )
        return s if not changes else cls(**{**{f: getattr(s, f) for f in cls.__slots__}, **changes})
