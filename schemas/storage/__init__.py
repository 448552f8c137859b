"""The storage layer: one module per store kind, registered here by URL scheme.

Agent, crawler and mover reach a backend's storage only through ``kind_of(backend)`` (a
``StoreKind``, see base.py) and the helpers below. Adding a store kind is one module with a
``StoreKind`` subclass plus one line in ``KINDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .azure import AzureStore
from .base import DIR, MD5_HEX, Entry, Lister, Page, StoreKind, VersionChanged
from .gcs import GCSStore
from .local import LocalStore
from .s3 import S3Store

if TYPE_CHECKING:
    from ..config import BackendConfig

__all__ = [
    "DIR",
    "KINDS",
    "MD5_HEX",
    "SCHEMES",
    "Entry",
    "Lister",
    "Page",
    "StoreKind",
    "VersionChanged",
    "kind_of",
    "open_fs",
    "root_path",
]

# URL scheme → store kind (like s3ql's prefix_map).
KINDS: dict[str, StoreKind] = {
    scheme: kind for kind in (LocalStore(), S3Store(), GCSStore(), AzureStore()) for scheme in kind.schemes
}
SCHEMES = tuple(KINDS)


def kind_of(backend: BackendConfig) -> StoreKind:
    """The store kind of a backend (config validation guarantees there is one)."""
    return KINDS[backend.scheme]


def open_fs(backend: BackendConfig, **overrides: Any) -> Any:
    """The backend's fsspec file system (``overrides`` on top of its storage_options)."""
    return kind_of(backend).open_fs(backend, **overrides)


def root_path(backend: BackendConfig) -> str:
    """The backend's root as its file system names it: ``/data/x`` or ``bucket/prefix``."""
    return kind_of(backend).root_path(backend)
