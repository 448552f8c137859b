"""The trash directory of a deletion job: named by the API when it accepts the job (api/trash.py), written and
purged by the crawler's job runner (crawler/trash.py). Its name carries the expiry, so purging needs only the store.

Trash is not data: nothing under ``crawler.trash_prefix`` is listed by a crawl (or moved by a move job), so trashed
files never count in usage, growth or stale. A complete crawl of a backend therefore also marks deleted whatever an
earlier version indexed there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .config import Config

STAMP = "%Y%m%dT%H%M%SZ"


def trash_root(cfg: Config) -> str:
    """The trash's top directory relative to a backend's root (``crawler.trash_prefix``, no slashes around it)."""
    return cfg.crawler.trash_prefix.strip("/")


def in_trash(path: str, root: str) -> bool:
    """Whether ``path`` (relative to a backend's root, no leading slash) is the trash ``root`` or inside it."""
    return path == root or path.startswith(root + "/")


def trash_dir(cfg: Config, expires_at: datetime, job_id: str) -> str:
    """The job's trash directory relative to a backend's root: ``<trash_prefix>/<expiry UTC>-<job id>``."""
    return f"{trash_root(cfg)}/{expires_at.astimezone(UTC):{STAMP}}-{job_id}"


def expiry_of(name: str) -> datetime | None:
    """The expiry in a trash directory's name (``20261209T130000Z-<job id>``), or None for anything else."""
    try:
        return datetime.strptime(name.partition("-")[0], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
