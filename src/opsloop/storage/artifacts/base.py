"""The artifact store contract shared by every backend."""

from __future__ import annotations

import logging
import posixpath
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from opsloop.errors import InvalidInputError

__all__ = ["STALE_UPLOAD_AGE_S", "ArtifactStore", "FileInfo", "safe_path"]

log = logging.getLogger("opsloop.storage")

# What an upload cut off by a killed server leaves (a temporary file, an incomplete multipart upload) is removed
# once this old: far longer than any upload in progress in another worker or server stays without a write.
STALE_UPLOAD_AGE_S = 24 * 3600

_swept: set[str] = set()
_swept_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None


def safe_path(path: str | None, *, allow_empty: bool = True) -> str:
    """Normalise a relative artifact path; reject traversal, absolute paths and NUL bytes."""
    if path is None or path == "":
        if allow_empty:
            return ""
        raise InvalidInputError("artifact path is required", field="path")
    if not isinstance(path, str) or "\x00" in path or "\\" in path:
        raise InvalidInputError(f"Invalid artifact path: {path!r}", field="path")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":") or "://" in path:
        raise InvalidInputError(f"Invalid artifact path: {path!r} (absolute paths are not allowed)", field="path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInputError(f"Invalid artifact path: {path!r} ('..' is not allowed)", field="path")
    return posixpath.join(*parts) if parts else ""


class ArtifactStore(ABC):
    """Files addressed by relative POSIX paths under one root.

    Writes are atomic: a reader sees the old file or the complete new one, never a partial upload.
    """

    @abstractmethod
    async def write(self, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int | None = None) -> int:
        """Store the bytes from ``chunks`` at ``path``; returns the size written."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` (synchronous, for SDK and server-side use)."""

    @abstractmethod
    def open_read(self, path: str) -> Iterator[bytes]:
        """Stream the file at ``path``; raises NotFoundError if absent."""

    @abstractmethod
    def size(self, path: str) -> int | None:
        """Size of the file at ``path``, or None if it is not a file."""

    @abstractmethod
    def list(self, path: str) -> list[FileInfo]:
        """Direct children of ``path`` (paths relative to the root), sorted by name."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a folder tree; a path that holds nothing is left as it is (no error), as MLflow's
        artifact repositories do (its ``mlflow-artifacts`` DELETE answers 200 there)."""

    @staticmethod
    def _sweep_in_background(root: str, sweep: Callable[[], int]) -> threading.Thread | None:
        """Run ``sweep`` (removing what killed uploads left under ``root``) on a thread of its own, once per root
        in a process: opening a store stays instant however many files it holds, and a sweep that fails is
        logged, never raised (the store works without it)."""
        with _swept_lock:
            if root in _swept:
                return None
            _swept.add(root)

        def run() -> None:
            try:
                removed = sweep()
            except Exception:  # noqa: BLE001 - see the docstring
                log.warning("could not remove the stale uploads under %s", root, exc_info=True)
                return
            if removed:
                log.info("removed %d stale upload(s) left under %s by interrupted writes", removed, root)

        thread = threading.Thread(target=run, name="opsloop-stale-uploads", daemon=True)
        thread.start()
        return thread

    def walk(self, path: str) -> Iterator[FileInfo]:
        """Every file below ``path``."""
        for info in self.list(path):
            if info.is_dir:
                yield from self.walk(info.path)
            else:
                yield info
