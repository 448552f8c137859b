"""Paths inside a backend, one canonical form at the contract: ``dir/sub/file.bin``.

Agents, the crawler, move jobs and imported logs name the same file in different ways (``/proj0/x.bin``,
``./proj0//x.bin``, ``s3://bucket/prefix/proj0/x.bin``). Every inbound path goes through ``canonical_path``
before anything is stored, so one file is one row whoever names it. What cannot be a path inside a backend
(NUL, ``..`` segments, a URL of another bucket) raises ``DecodeError`` with the reason.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from .errors import DecodeError


@functools.lru_cache(maxsize=1024)
@functools.lru_cache(maxsize=256)  # a handful of backend URLs, asked once per inbound path
def backend_prefix(url: str) -> str:
    """What a backend's URL puts before its paths, as a full path would start: ``bucket/prefix`` for
    ``s3://bucket/prefix/``, ``data/x`` for ``file:///data/x`` (no leading or trailing '/')."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".strip("/") if parts.scheme not in ("", "file") else parts.path.strip("/")


def canonical_path(path: str, backend_url: str | None = None) -> str:
    """``path`` relative to its backend's root, without leading, trailing or duplicate slashes and ``.``
    segments ('' = the root). A URL (``s3://bucket/key``, ``file:///data/x``) or an absolute path that starts with the
    backend's own root (``backend_url``) is made relative to it; a URL of somewhere else is refused."""
    if _plain(path):
        return path  # already canonical: the common case, one scan
    # One leading slash (how many tools name files); an absolute path under a file backend's own root loses that.
    if path[:1] == "/" and _plain(rel := path[1:]):
        if backend_url is None or not backend_url.startswith("file:"):
            return rel
        own = backend_prefix(backend_url)
        return rel[len(own) + 1 :] if own and rel.startswith(own + "/") else rel
    if "\x00" in path:
        raise DecodeError(f"path {path!r} contains NUL")
    root = backend_prefix(backend_url) if backend_url else None
    if "://" in path:
        parts = urlsplit(path)
        full = f"{parts.netloc}{parts.path}".strip("/") if parts.scheme != "file" else parts.path.strip("/")
        if root is None:  # the backend's root is unknown: the object key (or the whole file path)
            return _segments(parts.path if parts.scheme != "file" else full, path)
        if full != root and not full.startswith(root + "/") and root:
            raise DecodeError(f"path {path!r} is outside its backend ({backend_url})")
        return _segments(full[len(root) :], path)
    rel = _segments(path, path)
    # An absolute path under a file backend's own root (``/data/x/proj0/f`` for file:///data/x).
    if (
        root
        and path.startswith("/")
        and (rel == root or rel.startswith(root + "/"))
        and backend_url is not None
        and urlsplit(backend_url).scheme in ("", "file")
    ):
        return rel[len(root) :].lstrip("/")
    return rel


def _plain(path: str) -> bool:
    """Already canonical: no leading/trailing slash, no "//", "./", NUL or URL, no '.' or '..' that could be a segment."""
    return (
        bool(path)
        and path[0] != "/"
        and path[-1] != "/"
        and path != "."
        and ".." not in path
        and "//" not in path
        and "./" not in path
        and "\x00" not in path
        and ":/" not in path
        and not path.endswith("/.")
    )


def _segments(p: str, original: str) -> str:
    out = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            raise DecodeError(f"path {original!r} has a '..' segment")
        out.append(seg)
    return "/".join(out)  # '' = the backend's root (an agent lists it; a file is never there)
