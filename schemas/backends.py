"""Opening a configured backend as an fsspec file system (shared by agent, crawler and jobs)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from .config import BackendConfig

# gcsfs probes each bucket's type over gRPC and stalls 60 s per bucket against an emulator unless
# this is set before gcsfs is imported; set it only when a GCS backend points at a non-Google endpoint.
GCS_HNS_ENV = "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"


def _is_emulator(options: dict[str, Any]) -> bool:
    endpoint = str(options.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST") or "")
    return bool(endpoint) and "googleapis.com" not in endpoint


def root_path(backend: BackendConfig) -> str:
    """The backend's root as the file system names it: ``/data/x`` or ``bucket/prefix`` (no trailing /)."""
    parts = urlsplit(backend.url)
    if backend.scheme in ("s3", "gs"):
        return (parts.netloc + parts.path).rstrip("/")
    return (parts.path.rstrip("/") or "/") if backend.scheme == "file" else (parts.netloc + parts.path).rstrip("/")


def open_fs(backend: BackendConfig, **overrides: Any):  # -> fsspec.AbstractFileSystem
    """An fsspec file system for the backend (cached per options by fsspec itself)."""
    import fsspec

    options = {**backend.storage_options, **overrides}
    if backend.scheme == "gs" and _is_emulator(options):
        os.environ.setdefault(GCS_HNS_ENV, "false")
    if backend.scheme == "s3" and "endpoint_url" in options:
        options.setdefault("client_kwargs", {})
    return fsspec.filesystem(backend.scheme, **options)
