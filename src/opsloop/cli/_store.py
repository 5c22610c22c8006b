"""Whether the embedded store a command would read exists: opening a missing one creates it, and a read
command must not write ``opsloop.db`` and ``artifacts/`` into whatever folder it was pointed at."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsloop.settings import StorageSettings

__all__ = ["missing_store"]

_SQLITE = "sqlite:///"


def missing_store(storage: StorageSettings) -> str | None:
    """Why there is no embedded store to read in ``storage`` (a message), or None when there is one
    (or a ``database_url`` names the database, which the command then opens as it is)."""
    if storage.database_url:
        return None
    if not storage.data_dir.is_dir():
        return f"no opsloop data folder at {storage.data_dir} (pass --data-dir or --url)"
    database = Path(storage.resolved_database_url.removeprefix(_SQLITE))
    if not database.is_file():
        return f"no opsloop store in {storage.data_dir} (it has no {database.name}; pass --data-dir or --url)"
    return None
