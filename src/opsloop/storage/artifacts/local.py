"""Artifacts in a local folder."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path

from opsloop.errors import InvalidInputError, LimitExceededError, NotFoundError, StorageError
from opsloop.storage.artifacts.base import STALE_UPLOAD_AGE_S, ArtifactStore, FileInfo, safe_path

__all__ = ["LocalArtifactStore"]

_CHUNK = 1024 * 1024
_TMP_PREFIX = ".upload-"
_TMP_NAME = re.compile(r"\.upload-[a-z0-9_]{8}")  # tempfile.mkstemp's names: a user's ".upload-notes" is not one


class LocalArtifactStore(ArtifactStore):
    """Files under a folder; an upload is written to a hidden ``.upload-XXXXXXXX`` file beside its place, then
    renamed over it. Those a killed server left are removed when the store opens, once a day without a write."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweeper = self._sweep_in_background(str(self.root), self.remove_stale_uploads)

    def remove_stale_uploads(self, older_than_s: float = STALE_UPLOAD_AGE_S) -> int:
        """Delete the temporary files of uploads not written to for ``older_than_s`` seconds; returns how many.

        Only age tells a dead upload from one in progress in another worker or server (whose file is written at
        every chunk), so a younger file is always kept."""
        cutoff = time.time() - older_than_s
        removed = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if not _TMP_NAME.fullmatch(name):
                    continue
                tmp = Path(folder, name)
                try:
                    if tmp.lstat().st_mtime < cutoff:
                        tmp.unlink()
                        removed += 1
                except FileNotFoundError:  # renamed into place or removed by its writer meanwhile
                    continue
        return removed

    def _full(self, path: str) -> Path:
        rel = safe_path(path)
        self._check_name_lengths(rel, path)
        full = (self.root / rel).resolve() if rel else self.root
        if full != self.root and self.root not in full.parents:  # a symlink escaping the root
            raise NotFoundError(f"No artifact at {path!r}", field="path")
        return full

    def _check_name_lengths(self, rel: str, path: str) -> None:
        """A file or folder name longer than the file system takes (255 bytes on most) is the caller's error,
        not the server's (it was a 500 showing the server's folders)."""
        longest = max((len(part.encode("utf-8", "surrogateescape")) for part in rel.split("/")), default=0)
        if longest > self._name_max:
            raise InvalidInputError(f"Invalid artifact path: {path[:80]!r}… has a name longer than {self._name_max} "
                                    f"bytes, which the artifact store cannot hold", field="path")

    @cached_property
    def _name_max(self) -> int:
        try:
            return os.pathconf(self.root, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer: the common limit
            return 255

    def _tmp_for(self, full: Path, path: str):  # noqa: ANN202
        """A temporary file beside ``full``; a folder at ``full``, or a file where a folder of its path must be,
        is the caller's error (a folder cannot hold a file's bytes, nor a file hold files), checked before the
        upload is read."""
        if full.is_dir():
            raise _folder_in_the_way(path)
        try:
            full.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _file_in_the_way(path) from None
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=full.parent)
        return os.fdopen(fd, "wb"), tmp

    @staticmethod
    def _place(tmp: str, full: Path, path: str) -> None:
        try:
            os.replace(tmp, full)
        except IsADirectoryError:  # a folder made there while the upload ran
            raise _folder_in_the_way(path) from None

    @contextmanager
    def _storing(self, path: str) -> Iterator[None]:
        """The file system refusing a write (full, over quota, read-only, …) is the store's failure, a
        ``StorageError`` naming the store (the server answers 503), not an unhandled error."""
        try:
            yield
        except OSError as exc:
            raise StorageError(f"the artifact store {self.root} cannot store {path!r}: "
                               f"{exc.strerror or exc}") from exc

    async def write(self, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int | None = None) -> int:
        full = self._full(safe_path(path, allow_empty=False))
        with self._storing(path):
            fh, tmp = self._tmp_for(full, path)
        size = 0
        try:
            try:
                async for chunk in chunks:  # the sender's errors (a reset connection) pass as they are
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise LimitExceededError(f"artifact larger than {max_bytes} bytes", field="body")
                    with self._storing(path):
                        fh.write(chunk)
                with self._storing(path):
                    fh.flush()
                    os.fsync(fh.fileno())
                    fh.close()
            finally:
                with suppress(OSError):  # after a failed write the buffer cannot be written either; the file closes
                    fh.close()
            with self._storing(path):
                self._place(tmp, full, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def write_bytes(self, path: str, data: bytes) -> None:
        full = self._full(safe_path(path, allow_empty=False))
        with self._storing(path):
            fh, tmp = self._tmp_for(full, path)
            try:
                with fh:
                    fh.write(data)
                self._place(tmp, full, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def open_read(self, path: str) -> Iterator[bytes]:
        full = self._full(path)
        if not full.is_file():
            raise NotFoundError(f"No artifact at {path!r}", field="path")
        return self._stream(full)

    @staticmethod
    def _stream(full: Path) -> Iterator[bytes]:
        with full.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def size(self, path: str) -> int | None:
        full = self._full(path)
        return full.stat().st_size if full.is_file() else None

    def list(self, path: str) -> list[FileInfo]:
        rel = safe_path(path)
        full = self._full(rel)
        if not full.is_dir():
            return []
        out = []
        for child in sorted(full.iterdir(), key=lambda p: p.name):
            if _TMP_NAME.fullmatch(child.name):
                continue
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child.is_dir():
                out.append(FileInfo(child_rel, True))
            else:
                out.append(FileInfo(child_rel, False, child.stat().st_size))
        return out

    def delete(self, path: str) -> None:
        full = self._full(safe_path(path, allow_empty=False))
        if full.is_dir():
            shutil.rmtree(full)
            return
        try:
            full.unlink()
        except (FileNotFoundError, NotADirectoryError):  # nothing there (a part of the path is a file, say)
            pass


def _folder_in_the_way(path: str) -> InvalidInputError:
    return InvalidInputError(f"Cannot store a file at {path!r}: a folder of artifacts is there", field="path")


def _file_in_the_way(path: str) -> InvalidInputError:
    return InvalidInputError(f"Cannot store a file at {path!r}: a part of its path is a file, not a folder",
                             field="path")
