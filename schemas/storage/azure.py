"""Azure Blob Storage and Azurite (``az://container/prefix``, ``abfs://container[@account.dfs.core.windows.net]/prefix``)
through adlfs.

Version: the blob's ETag (a new one for every write, even of the same bytes). Pinned reads send it as
``If-Match``; the service answers 412 (ResourceModifiedError) once the blob is no longer that version.
The MD5 is the blob's Content-MD5, which Azure keeps for single-shot uploads only (staged-block
uploads have none: the mover then hashes). Azurite needs a ``connection_string`` naming its BlobEndpoint.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator
from urllib.parse import urlsplit

from .base import Lister, Page, StoreKind, VersionChanged

if TYPE_CHECKING:
    from ..config import BackendConfig
    from ..records import ListingEvent


def _etag(obj: Any) -> str:
    return str(obj.get("etag") or "").strip('"')


def content_md5(obj: Any) -> str | None:
    """The blob's Content-MD5 as hex, or None."""
    settings = obj.get("content_settings") or {}
    md5 = settings.get("content_md5")
    return bytes(md5).hex() if md5 else None


class AzureLister(Lister):
    """Lists through the blocking file system's client, on fsspec's I/O loop: an adlfs file system made
    for another loop cannot be closed cleanly (its finalizer needs that loop still running at exit)."""

    async def pages(self, prefix: str, delimiter: str, single: bool = False) -> AsyncIterator[Page]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError

        loop = self.fs.loop
        it = self._pages(prefix, delimiter, 1 if single else 1000)
        try:
            while True:
                try:
                    page = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(it.__anext__(), loop))
                except StopAsyncIteration:
                    return
                # The crawler tells errors apart as fsspec raises them: missing / refused / worth a retry.
                except ResourceNotFoundError as e:
                    raise FileNotFoundError(f"{self.bucket}: {e.reason or e}") from None
                except ClientAuthenticationError as e:
                    raise PermissionError(f"{self.bucket}: {e.reason or e}") from None
                except AzureError as e:
                    raise OSError(f"{self.bucket}: {e}") from None
                yield page
                if single:
                    return
        finally:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(it.aclose(), loop))

    async def _pages(self, prefix: str, delimiter: str, size: int) -> AsyncGenerator[Page, None]:
        """The pages, as an async generator running on the file system's loop."""
        from azure.storage.blob.aio import BlobPrefix

        container = self.fs.service_client.get_container_client(self.bucket)
        if delimiter:
            paged = container.walk_blobs(name_starts_with=prefix or None, delimiter=delimiter, results_per_page=size)
        else:
            paged = container.list_blobs(name_starts_with=prefix or None, results_per_page=size)
        async for page in paged.by_page():
            keys, prefixes = [], []
            async for item in page:
                if isinstance(item, BlobPrefix):  # a "directory" of a delimiter listing
                    prefixes.append(item.name)
                else:
                    keys.append(item)
            yield Page(keys, prefixes)

    def name(self, obj: dict[str, Any]) -> str:
        return obj["name"]

    def event(self, obj: dict[str, Any], rel: str, crawl_id: str, backend: str) -> ListingEvent:
        from ..records import ListingEvent, format_ts

        modified = obj.get("last_modified")
        return ListingEvent(
            crawl_id,
            backend,
            rel,
            int(obj.get("size") or 0),
            format_ts(modified) if modified else None,
            content_md5(obj),
        )


class AzureStore(StoreKind):
    label = "Azure Blob"
    schemes = ("az", "abfs", "abfss")

    def root_path(self, backend: BackendConfig) -> str:
        parts = urlsplit(backend.url)  # abfs://container@account.dfs.core.windows.net/prefix
        return (parts.netloc.split("@")[0] + parts.path).rstrip("/")

    def options(self, backend: BackendConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        # The SDK logs every request and response at INFO, which would drown the components' own INFO logs.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        options = super().options(backend, overrides)
        netloc = urlsplit(backend.url).netloc
        if "@" in netloc and not options.get("connection_string"):
            options.setdefault("account_name", netloc.split("@")[1].split(".")[0])
        return options

    def version(self, info: dict[str, Any]) -> str | None:
        return _etag(info) or None

    def md5(self, info: dict[str, Any]) -> str | None:
        return content_md5(info)

    def _get(self, fs: Any, path: str, start: int, end: int, **conditions: Any) -> tuple[bytes, str | None]:
        from fsspec.asyn import sync

        container, blob, _ = fs.split_path(path)

        async def get() -> tuple[bytes, str | None]:
            async with fs.service_client.get_blob_client(container=container, blob=blob) as bc:
                stream = await bc.download_blob(offset=start, length=end - start, **conditions)
                return await stream.readall(), _etag(stream.properties) or None

        if end <= start:
            return b"", None
        return sync(fs.loop, get)

    def read_range(self, fs: Any, path: str, start: int, end: int, version: str) -> bytes:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            data, served = self._get(
                fs, path, start, end, etag=f'"{version}"', match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise VersionChanged(path, version) from None
        if served and served != version:
            raise VersionChanged(path, version, served)
        return data

    def read_versioned(self, fs: Any, path: str, start: int, end: int) -> tuple[bytes, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._get(fs, path, start, end)
        except ResourceNotFoundError:
            raise FileNotFoundError(path) from None

    @asynccontextmanager
    async def open_lister(self, backend: BackendConfig) -> AsyncIterator[tuple[Lister, str]]:
        # The blocking file system (cached by fsspec, its client kept open like the agent's): see AzureLister.
        bucket, base = self.bucket_and_base(backend)
        yield AzureLister(self.open_fs(backend), bucket), base
