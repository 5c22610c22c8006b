"""Artifacts in S3-compatible object storage (AWS S3, MinIO, …) through fsspec/s3fs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from opsloop.errors import (
    InvalidInputError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
    StorageError,
)
from opsloop.storage.artifacts.base import STALE_UPLOAD_AGE_S, ArtifactStore, FileInfo, safe_path

__all__ = ["S3ArtifactStore"]

_CHUNK = 8 * 1024 * 1024
_MAX_KEY_BYTES = 1024  # S3's (and MinIO's) limit on an object key, the root's prefix included
# botocore's "standard" retries (2 attempts, jittered back-off), not its legacy mode's 5 attempts under each of
# s3fs' own 5 retries: an endpoint that is down is reported within a few seconds, not after 7-10 s per request.
_BOTO_CONFIG = {"retries": {"max_attempts": 2, "mode": "standard"}}


def _no_bucket(exc: FileNotFoundError) -> bool:
    """Whether s3fs' ``FileNotFoundError`` is about the bucket (S3's ``NoSuchBucket``), not a key."""
    response = getattr(exc.__cause__, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "NoSuchBucket"


class S3ArtifactStore(ArtifactStore):
    """``s3://bucket/prefix``; objects are written whole (a multipart upload completes or leaves nothing).

    An endpoint that cannot be reached, or a bucket that does not exist, is a ``StorageError`` (the server
    answers 503), never a missing artifact nor an unhandled error. The incomplete multipart uploads a killed
    server left under the root are aborted when the store opens, once a day old.
    """

    def __init__(self, root: str, *, endpoint_url: str | None = None) -> None:
        try:
            import s3fs
        except ImportError as exc:
            raise MissingDependencyError.for_extra("s3fs", "s3") from exc
        self.root = root
        self.endpoint_url = endpoint_url
        self.base = root.removeprefix("s3://").rstrip("/")
        self.bucket = self.base.partition("/")[0]
        client_kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
        self.fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, config_kwargs=dict(_BOTO_CONFIG))
        self.sweeper = self._sweep_in_background(root, self.abort_stale_uploads)

    def abort_stale_uploads(self, older_than_s: float = STALE_UPLOAD_AGE_S) -> int:
        """Abort the multipart uploads under the root started ``older_than_s`` seconds ago or more; returns how
        many. Only those under this store's root (the bucket may serve others); an upload in progress in another
        server is younger (S3 dates an upload by its start, and a part is sent every 8 MB)."""
        bucket, prefix = self.bucket, self.base.partition("/")[2]
        cutoff = time.time() - older_than_s
        aborted = 0
        markers: dict[str, str] = {}
        with self._reachable():
            while True:
                page = self.fs.call_s3("list_multipart_uploads", Bucket=bucket,
                                       Prefix=f"{prefix}/" if prefix else "", **markers)
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < cutoff:
                        self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"],
                                        UploadId=upload["UploadId"])
                        aborted += 1
                if not page.get("IsTruncated"):
                    return aborted
                markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def _key(self, path: str) -> str:
        rel = safe_path(path)
        key = f"{self.base}/{rel}" if rel else self.base
        if len(key.encode("utf-8", "surrogateescape")) - len(self.bucket) - 1 > _MAX_KEY_BYTES:
            raise InvalidInputError(f"Invalid artifact path: {path[:80]!r}… makes an object key longer than S3's "
                                    f"{_MAX_KEY_BYTES} bytes", field="path")
        return key

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """Errors of the object store itself (not of the caller's path) as ``StorageError``."""
        from botocore.exceptions import BotoCoreError
        from fsspec.exceptions import FSTimeoutError

        try:
            yield
        except (BotoCoreError, FSTimeoutError, TimeoutError) as exc:  # unreachable endpoint, timeouts, bad config
            raise StorageError(f"the artifact store {self.root} cannot be reached{self._at()}: {exc}") from exc
        except FileNotFoundError as exc:
            if not _no_bucket(exc):
                raise
            raise StorageError(f"the artifact store {self.root}{self._at()}: {exc}") from exc
        except PermissionError as exc:  # credentials missing or refused: the server's configuration
            raise StorageError(f"the artifact store {self.root} refused access{self._at()}: {exc}") from exc

    def _at(self) -> str:
        return f" at {self.endpoint_url}" if self.endpoint_url else ""

    def _info(self, key: str) -> dict[str, Any] | None:
        """The object at ``key``, or None. (``fs.isfile`` answers False on any error, so an unreachable store
        would read as a missing artifact.)"""
        try:
            info = self.fs.info(key)
        except FileNotFoundError as exc:
            if _no_bucket(exc):
                raise
            return None
        return info if info.get("type") == "file" else None

    async def write(self, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int | None = None) -> int:
        import anyio

        key = self._key(safe_path(path, allow_empty=False))
        size = 0
        fh = await anyio.to_thread.run_sync(lambda: self.fs.open(key, "wb", block_size=_CHUNK))
        try:
            with self._reachable():
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise LimitExceededError(f"artifact larger than {max_bytes} bytes", field="body")
                    await anyio.to_thread.run_sync(fh.write, chunk)
                await anyio.to_thread.run_sync(fh.close)
        except BaseException:
            fh.discard()  # abort: nothing (no partial object) is left behind
            fh.closed = True
            raise
        return size

    def write_bytes(self, path: str, data: bytes) -> None:
        key = self._key(safe_path(path, allow_empty=False))
        with self._reachable():
            self.fs.pipe_file(key, data)

    def open_read(self, path: str) -> Iterator[bytes]:
        key = self._key(path)
        with self._reachable():
            if self._info(key) is None:
                raise NotFoundError(f"No artifact at {path!r}", field="path")
        return self._stream(key)

    def _stream(self, key: str) -> Iterator[bytes]:
        with self._reachable(), self.fs.open(key, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def size(self, path: str) -> int | None:
        with self._reachable():
            info = self._info(self._key(path))
        return int(info["size"]) if info is not None else None

    def list(self, path: str) -> list[FileInfo]:
        rel = safe_path(path)
        key = self._key(rel)
        self.fs.invalidate_cache(key)
        with self._reachable():
            if not self.fs.isdir(key):
                return []
            entries = self.fs.ls(key, detail=True)
        out = []
        for entry in sorted(entries, key=lambda e: e["name"]):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            child = f"{rel}/{name}" if rel else name
            if entry["type"] == "directory":
                out.append(FileInfo(child, True))
            else:
                out.append(FileInfo(child, False, int(entry.get("size") or 0)))
        return out

    def delete(self, path: str) -> None:
        key = self._key(safe_path(path, allow_empty=False))
        self.fs.invalidate_cache(key)  # another server may have written it since this one listed the folder
        with self._reachable():
            if self.fs.exists(key):
                self.fs.rm(key, recursive=True)
