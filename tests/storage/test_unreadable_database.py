"""A data folder whose database file is not a database (a copy cut short, a wrong file) is one clear error
naming the file, for the store and for every command: it was sqlalchemy's traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.conftest import OPSLOOP_BIN

from opsloop.errors import StorageError
from opsloop.storage.sql import open_database


def _garbage(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "opsloop.db"
    db.write_bytes(b"this is not an SQLite database; " * 200)
    return db


def test_opening_a_file_that_is_no_database_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    db = _garbage(tmp_path)
    with pytest.raises(StorageError, match=r"cannot open database sqlite:///.*opsloop\.db: file is not a database"):
        open_database(f"sqlite:///{db}")
    assert db.read_bytes().startswith(b"this is not")  # left as it was


@pytest.mark.parametrize("command", [["runs", "list"], ["experiments", "list"]])
def test_commands_on_such_a_folder_say_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    _garbage(tmp_path / "data")
    done = subprocess.run([OPSLOOP_BIN, "--data-dir", str(tmp_path / "data"), *command], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: cannot open database") and "file is not a database" in done.stderr
