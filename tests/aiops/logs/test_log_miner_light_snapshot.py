"""A miner whose templates live in a store snapshots only its own state (``templates=False``): a full
snapshot of thousands of templates, each with a day of buckets, took seconds every tick. It is restored
from the store's rows, which are the newer truth: a template born after the last snapshot keeps its id
and no later template takes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsloop.aiops.logs import InMemoryTemplateStore, LogMiner, TemplateStore
from opsloop.storage.sql import open_database
from opsloop.storage.sql.log_templates import SqlTemplateStore


def _sqlite(tmp_path: Path) -> TemplateStore:
    return SqlTemplateStore(open_database(f"sqlite:///{tmp_path / 'templates.db'}"))


STORES: dict[str, Callable[[Path], TemplateStore]] = {"memory": lambda _: InMemoryTemplateStore(), "sqlite": _sqlite}


def _feed(miner: LogMiner) -> None:
    for user in ("alice", "bob", "carol", "dave"):  # three siblings merge
        miner.add(f"login failed for user {user}", service="auth", time=100.0)
    for i in range(30):
        miner.add(f"request {i} served in {i * 3} ms", service="api", time=100.0 + i * 300)


def _fed(kind: str, tmp_path: Path) -> tuple[TemplateStore, LogMiner, dict[str, Any]]:
    """A store of ``kind``, a miner on it fed and flushed, and the miner's light snapshot."""
    store = STORES[kind](tmp_path)
    miner = LogMiner(store=store)
    _feed(miner)
    miner.flush()
    return store, miner, miner.snapshot(templates=False)


@pytest.mark.parametrize("kind", sorted(STORES))
def test_light_snapshot_restores_from_the_store(kind: str, tmp_path: Path) -> None:
    store, miner, light = _fed(kind, tmp_path)
    assert "templates" not in light
    assert len(json.dumps(light)) < len(json.dumps(miner.snapshot())) / 3
    restored = LogMiner.restore(light, store=store)
    assert [t.to_dict() for t in restored.templates()] == [t.to_dict() for t in miner.templates()]
    merged = [t.id for t in store.list() if t.merged_into is not None]
    assert merged and all(restored.resolve(m) == miner.resolve(m) for m in merged)
    again = restored.add("login failed for user erin", service="auth", time=200.0)
    assert again.template_id == miner.add("login failed for user erin", service="auth", time=200.0).template_id


@pytest.mark.parametrize("kind", sorted(STORES))
def test_a_template_born_after_the_snapshot_keeps_its_id(kind: str, tmp_path: Path) -> None:
    store, miner, light = _fed(kind, tmp_path)
    late = miner.add("cache warmed up", service="api", time=300.0).template_id  # stored at birth
    restored = LogMiner.restore(light, store=store)
    assert restored.template(late).text == "cache warmed up"
    fresh = restored.add("disk nearly full", service="api", time=400.0).template_id
    assert fresh > late and store.get(late).text == "cache warmed up"
