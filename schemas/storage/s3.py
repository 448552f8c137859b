"""S3 and S3-compatible servers (``s3://bucket/prefix``) through s3fs.

Version: the ETag (an MD5 of the content for single-part uploads). Pinned reads send it as
``If-Match``; the server answers 412 PreconditionFailed when the object is no longer that version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator

from .base import MD5_HEX, Lister, Page, StoreKind, VersionChanged

if TYPE_CHECKING:
    from ..config import BackendConfig
    from ..records import ListingEvent


def _etag(info: dict[str, Any]) -> str:
    return str(info.get("ETag") or info.get("etag") or "").strip('"')


class S3Lister(Lister):
    async def pages(self, prefix: str, delimiter: str, single: bool = False) -> AsyncIterator[Page]:
        kwargs = dict(
            Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter, MaxKeys=1 if single else 1000, **self.fs.req_kw
        )
        async for out in self.fs._list_pages("list_objects_v2", **kwargs):
            yield Page(out.get("Contents", []), [p["Prefix"] for p in out.get("CommonPrefixes", [])])
            if single:
                return

    def name(self, obj: dict[str, Any]) -> str:
        return obj["Key"]

    def event(self, obj: dict[str, Any], rel: str, crawl_id: str, backend: str) -> ListingEvent:
        from ..records import ListingEvent, format_ts

        return ListingEvent(
            crawl_id, backend, rel, int(obj["Size"]), format_ts(obj["LastModified"]), _etag(obj) or None
        )


class S3Store(StoreKind):
    label = "S3"
    schemes = ("s3",)

    def options(self, backend: BackendConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        options = super().options(backend, overrides)
        if "endpoint_url" in options:
            options.setdefault("client_kwargs", {})
        return options

    def bounded_options(self, backend: BackendConfig, timeout: float) -> dict[str, Any]:
        # botocore: one attempt of connect + read ≤ timeout/2; s3fs retries a few times more on its own.
        given = dict(backend.storage_options.get("config_kwargs") or {})
        return {
            "config_kwargs": {
                **given,
                "connect_timeout": timeout / 4,
                "read_timeout": timeout / 4,
                "retries": {"max_attempts": 1},
            }
        }

    def version(self, info: dict[str, Any]) -> str | None:
        return _etag(info) or None

    def md5(self, info: dict[str, Any]) -> str | None:
        etag = _etag(info)  # multipart ETags are "<md5 of the parts' md5s>-<parts>": not the content's
        return etag if MD5_HEX.fullmatch(etag) else None

    def _get(self, fs: Any, path: str, start: int, end: int, **kwargs: Any) -> tuple[bytes, str]:
        from fsspec.asyn import sync

        bucket, key, _ = fs.split_path(path)

        async def get() -> tuple[bytes, str]:
            resp = await fs._call_s3("get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **kwargs)
            try:
                return await resp["Body"].read(), str(resp.get("ETag") or "").strip('"')
            finally:
                resp["Body"].close()

        if end <= start:
            return b"", ""
        return sync(fs.loop, get)

    def read_range(self, fs: Any, path: str, start: int, end: int, version: str) -> bytes:
        try:
            data, etag = self._get(fs, path, start, end, IfMatch=f'"{version}"')
        except FileNotFoundError:
            raise VersionChanged(path, version) from None
        except OSError as e:
            response = getattr(e.__cause__, "response", None) or {}
            # 416: the range lies inside the pinned version (the caller's contract), so a shorter object
            # answering is another version; servers may check the range before If-Match.
            if response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "InvalidRange", "416"):
                raise VersionChanged(path, version) from None
            raise
        if etag and etag != version:  # a server that ignores If-Match
            raise VersionChanged(path, version, etag)
        return data

    def read_versioned(self, fs: Any, path: str, start: int, end: int) -> tuple[bytes, str | None]:
        data, etag = self._get(fs, path, start, end)
        return data, etag or None

    def lister(self, fs: Any, bucket: str) -> Lister:
        return S3Lister(fs, bucket)

    # s3fs exposes its session's lifetime only through these (set_session public, _s3 internal).
    async def open_session(self, fs: Any) -> None:
        await fs.set_session()

    async def close_session(self, fs: Any) -> None:
        await fs._s3.close()
