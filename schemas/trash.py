"""The trash directory of a deletion job: named by the API when it accepts the job (api/trash.py), written and
purged by the crawler's job runner (crawler/trash.py). Its name carries the expiry, so purging needs only the store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .config import Config

STAMP = "%Y%m%dT%H%M%SZ"


def trash_dir(cfg: Config, expires_at: datetime, job_id: str) -> str:
    """The job's trash directory relative to a backend's root: ``<trash_prefix>/<expiry UTC>-<job id>``."""
    return f"{cfg.crawler.trash_prefix.strip('/')}/{expires_at.astimezone(UTC):{STAMP}}-{job_id}"


def expiry_of(name: str) -> datetime | None:
    """The expiry in a trash directory's name (``20261209T130000Z-<job id>``), or None for anything else."""
    try:
        return datetime.strptime(name.partition("-")[0], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
