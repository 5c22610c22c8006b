"""Artifacts in S3-compatible object storage (AWS S3, MinIO, …) through fsspec/s3fs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from opsloop.errors import LimitExceededError, MissingDependencyError, NotFoundError
from opsloop.storage.artifacts.base import ArtifactStore, FileInfo, safe_path

__all__ = ["S3ArtifactStore"]

_CHUNK = 8 * 1024 * 1024


class S3ArtifactStore(ArtifactStore):
    """``s3://bucket/prefix``; objects are written whole (a multipart upload completes or leaves nothing)."""

    def __init__(self, root: str, *, endpoint_url: str | None = None) -> None:
        try:
            import s3fs
        except ImportError as exc:
            raise MissingDependencyError.for_extra("s3fs", "s3") from exc
        self.base = root.removeprefix("s3://").rstrip("/")
        kwargs = {"client_kwargs": {"endpoint_url": endpoint_url}} if endpoint_url else {}
        self.fs = s3fs.S3FileSystem(**kwargs)

    def _key(self, path: str) -> str:
        rel = safe_path(path)
        return f"{self.base}/{rel}" if rel else self.base

    async def write(self, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int | None = None) -> int:
        import anyio

        key = self._key(safe_path(path, allow_empty=False))
        size = 0
        fh = await anyio.to_thread.run_sync(lambda: self.fs.open(key, "wb", block_size=_CHUNK))
        try:
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
        self.fs.pipe_file(self._key(safe_path(path, allow_empty=False)), data)

    def open_read(self, path: str) -> Iterator[bytes]:
        key = self._key(path)
        if not self.fs.isfile(key):
            raise NotFoundError(f"No artifact at {path!r}", field="path")
        return self._stream(key)

    def _stream(self, key: str) -> Iterator[bytes]:
        with self.fs.open(key, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def size(self, path: str) -> int | None:
        key = self._key(path)
        return int(self.fs.info(key)["size"]) if self.fs.isfile(key) else None

    def list(self, path: str) -> list[FileInfo]:
        rel = safe_path(path)
        key = self._key(rel)
        self.fs.invalidate_cache(key)
        if not self.fs.isdir(key):
            return []
        out = []
        for entry in sorted(self.fs.ls(key, detail=True), key=lambda e: e["name"]):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            child = f"{rel}/{name}" if rel else name
            if entry["type"] == "directory":
                out.append(FileInfo(child, True))
            else:
                out.append(FileInfo(child, False, int(entry.get("size") or 0)))
        return out

    def delete(self, path: str) -> None:
        key = self._key(safe_path(path, allow_empty=False))
        if not self.fs.exists(key):
            raise NotFoundError(f"No artifact at {path!r}", field="path")
        self.fs.rm(key, recursive=True)
