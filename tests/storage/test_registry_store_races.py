"""The registry store under servers writing at once to one database (SQLite, and PostgreSQL, where they race)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from opsloop.errors import AlreadyExistsError
from opsloop.storage.sql import open_database
from opsloop.storage.sql.registry import SqlRegistryStore
from opsloop.storage.sql.tracking import SqlTrackingStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path) -> Iterator[SqlRegistryStore]:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    yield SqlRegistryStore(db, SqlTrackingStore(db))
    db.dispose()


def _all_at_once(calls: list[Callable[[], object]]) -> list[str]:
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[], object]) -> str:
        barrier.wait()
        try:
            call()
        except AlreadyExistsError:
            return "exists"
        return "done"

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_concurrent_renames_to_one_name_are_already_exists(registry: SqlRegistryStore) -> None:
    names = [f"draft-{i}" for i in range(8)]
    for name in names:
        registry.create_registered_model(name)
    for round_ in range(6):
        answers = _all_at_once([lambda n=n, new=f"final-{round_}": registry.rename_registered_model(n, new)
                                for n in names])
        assert answers.count("done") == 1 and answers.count("exists") == 7, answers
        names[answers.index("done")] = f"final-{round_}"
