"""Google Cloud Storage and its emulators (``gs://`` or ``gcs://bucket/prefix``) through gcsfs.

Version: the object's generation (a new one for every write, never reused), not its md5: an object
rewritten with the same bytes is still a new object. Pinned reads send ``ifGenerationMatch``
(412 when the object is no longer that generation). Emulators ignore the condition and do not say
which generation they served, so without the ``x-goog-generation`` header the generation is read
after the bytes: generations only grow, so if it is still the pinned one, the bytes were too.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any, AsyncIterator

from .base import Lister, Page, StoreKind, VersionChanged

if TYPE_CHECKING:
    from ..config import BackendConfig
    from ..records import ListingEvent

# gcsfs probes each bucket's type over gRPC and stalls 60 s per bucket against an emulator unless
# this is set before gcsfs is imported; set it only when a GCS backend points at a non-Google endpoint.
HNS_ENV = "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"


def _is_emulator(options: dict[str, Any]) -> bool:
    endpoint = str(options.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST") or "")
    return bool(endpoint) and "googleapis.com" not in endpoint


def checksum(obj: dict[str, Any]) -> str | None:
    """md5Hash as hex (the same form as a single-part S3 ETag, so copies compare equal across
    stores); composite objects have only a CRC32C, written ``crc32c:<base64>`` so it never passes for an md5."""
    if md5 := obj.get("md5Hash"):
        return base64.b64decode(md5).hex()
    if crc := obj.get("crc32c"):
        return f"crc32c:{crc}"
    return None


class GCSLister(Lister):
    async def pages(self, prefix: str, delimiter: str, single: bool = False) -> AsyncIterator[Page]:
        token = None
        while True:
            out = await self.fs._call_list_objects(
                self.bucket,
                prefix=prefix or None,
                delimiter=delimiter or None,
                maxResults=1 if single else 1000,
                pageToken=token,
            )
            yield Page(out.get("items", []), out.get("prefixes", []))
            token = out.get("nextPageToken")
            if not token or single:
                return

    def name(self, obj: dict[str, Any]) -> str:
        return obj["name"]

    def event(self, obj: dict[str, Any], rel: str, crawl_id: str, backend: str) -> ListingEvent:
        from ..records import ListingEvent, format_ts, parse_ts

        return ListingEvent(
            crawl_id,
            backend,
            rel,
            int(obj.get("size", 0)),
            format_ts(parse_ts(obj["updated"])) if obj.get("updated") else None,
            checksum(obj),
        )


class GCSStore(StoreKind):
    label = "GCS"
    schemes = ("gs", "gcs")

    def options(self, backend: BackendConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        options = super().options(backend, overrides)
        if _is_emulator(options):
            os.environ.setdefault(HNS_ENV, "false")
        return options

    def bounded_options(self, backend: BackendConfig, timeout: float) -> dict[str, Any]:
        return {"requests_timeout": timeout / 4}  # per request; gcsfs retries 6 times with a back-off

    def version(self, info: dict[str, Any]) -> str | None:
        return str(info["generation"]) if info.get("generation") else None

    def md5(self, info: dict[str, Any]) -> str | None:
        return base64.b64decode(info["md5Hash"]).hex() if info.get("md5Hash") else None

    def _get(self, fs: Any, path: str, start: int, end: int, **params: Any) -> tuple[bytes, str | None]:
        if end <= start:
            return b"", None
        headers, data = fs.call("GET", fs.url(path), headers={"Range": f"bytes={start}-{end - 1}"}, **params)
        return data, headers.get("x-goog-generation")

    def read_range(self, fs: Any, path: str, start: int, end: int, version: str) -> bytes:
        try:
            data, served = self._get(fs, path, start, end, ifGenerationMatch=version)
            if served is None:  # an emulator: see the module's docstring
                fs.invalidate_cache(path)
                served = self.version(fs.info(path))
        except (FileNotFoundError, FileExistsError):  # gcsfs raises FileExistsError for 412
            raise VersionChanged(path, version) from None
        except OSError:  # e.g. 416 from a shorter object: another version if the generation moved
            fs.invalidate_cache(path)
            try:
                now = self.version(fs.info(path))
            except FileNotFoundError:
                now = None
            if now != version:
                raise VersionChanged(path, version, now) from None
            raise
        if served != version:
            raise VersionChanged(path, version, served)
        return data

    def read_versioned(self, fs: Any, path: str, start: int, end: int) -> tuple[bytes, str | None]:
        return self._get(fs, path, start, end)

    def lister(self, fs: Any, bucket: str) -> Lister:
        return GCSLister(fs, bucket)

    # gcsfs exposes its session's lifetime only through these (documented as internal).
    async def open_session(self, fs: Any) -> None:
        await fs._set_session()

    async def close_session(self, fs: Any) -> None:
        if fs._session is not None:
            await fs._session.close()
