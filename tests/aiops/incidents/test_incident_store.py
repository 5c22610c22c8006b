"""The AIOps tables: migration a001 matches the table definitions; the stores on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert

import opsloop.storage.sql.schema_aiops as schema_aiops
from opsloop.aiops.ingestion.normalise import Decoded
from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Severity, Signal
from opsloop.storage.sql.engine import open_database
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.schema import metadata
from opsloop.storage.sql.schema_aiops import aiops_notifications


def test_migration_matches_tables(tmp_path) -> None:  # noqa: ANN001
    db = open_database(f"sqlite:///{tmp_path}/m.db")
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"render_as_batch": True})
        diffs = [d for d in compare_metadata(ctx, metadata) if "aiops" in repr(d)]
    assert diffs == []
    assert {t for t in metadata.tables if t.startswith("aiops_")} == {
        t.name for t in vars(schema_aiops).values() if getattr(t, "name", "").startswith("aiops_")}


def _exercise(url: str) -> None:
    db = open_database(url)
    p = Pipeline(AiopsStores(db), mine_logs=False)
    t = time.time()
    sigs = [Signal(time=t, source="test", service="db", labels={"alertname": "Down", "service": "db"},
                   severity=Severity.CRITICAL, text="db down"),
            Signal(time=t, source="test", kind="log", service="db", labels={"service": "db"}, text="line"),
            Signal(time=t, source="test", kind="log", service="db", labels={"service": "db"}, text="line")]
    report = p.ingest(Decoded(signals=sigs))
    assert report.opened and report.folded == 1
    p.ingest([Signal(time=t, source="test", service="db", labels={"alertname": "Down", "service": "db"},
                     severity=Severity.CRITICAL, status="resolved", evidence={"endsAt": t + 5})])
    rows, total = p.stores.incidents.list()
    assert total == 1 and rows[0]["state"] == "resolved"
    logs = p.stores.signals.list(kind="log")
    assert len(logs) == 1 and logs[0]["count"] == 2
    p.ops.comment(rows[0]["id"], "ann", "fixed")
    assert p.incident_detail(rows[0]["id"])["resolution"] == "fixed"
    _replay_supersedes_stale_dead_letters(p.stores)
    db.dispose()


def _replay_supersedes_stale_dead_letters(stores: AiopsStores) -> None:
    """A dead letter whose incident has had a later event delivered to that target is superseded; one
    for another target, or before nothing delivered, goes back in the queue."""
    rows = [("pd", 1, "opened", "dead"), ("pd", 1, "resolved", "delivered"), ("hook", 1, "opened", "dead"),
            ("pd", 2, "opened", "dead"), ("pd", 2, "acknowledged", "pending")]
    with stores.db.write() as conn:
        conn.execute(insert(aiops_notifications), [
            {"target": target, "incident_id": inc, "event": event, "payload": "{}", "state": state, "attempts": 8,
             "next_attempt_at": 0.0, "last_error": "", "created_at": 0.0} for target, inc, event, state in rows])
    assert stores.ops.replay(None, 1.0) == (2, 1)
    states = [(n["target"], n["incident_id"], n["state"]) for n in reversed(stores.ops.notifications())][-5:]
    assert states == [("pd", 1, "superseded"), ("pd", 1, "delivered"), ("hook", 1, "pending"),
                      ("pd", 2, "pending"), ("pd", 2, "pending")]


def test_store_on_sqlite(tmp_path) -> None:  # noqa: ANN001
    _exercise(f"sqlite:///{tmp_path}/s.db")


@pytest.mark.postgres
def test_store_on_postgres(postgres_url: str) -> None:
    _exercise(postgres_url)
