"""Reading and searching logged models looks their metric points up by model id (the partial index
``ix_metrics_model_id``), rather than scanning every point ever logged: checked on SQLite's query plans
of the statements the store runs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from opsloop.mlops.tracking.entities import Metric
from opsloop.storage.sql import open_database
from opsloop.storage.sql.tracking import SqlTrackingStore


@pytest.fixture
def store(tmp_path) -> SqlTrackingStore:  # noqa: ANN001
    db = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield SqlTrackingStore(db)
    db.dispose()


def _plans_of_metric_reads(store: SqlTrackingStore, work: Any) -> list[str]:
    """The query plan of every SELECT on ``metrics`` that ``work()`` runs."""
    seen: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and " metrics" in statement:
            seen.append((statement, parameters))

    engine = store.db.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    plans = []
    raw = engine.raw_connection()
    try:
        for statement, parameters in seen:
            rows = raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append("\n".join(r[-1] for r in rows))
    finally:
        raw.close()
    return plans


def test_logged_model_reads_use_the_model_index(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "tester").info.run_id
    store.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(200)])
    model = store.create_logged_model("0", "clf", run_id)
    store.log_batch(run_id, metrics=[Metric("acc", 0.9, 2000, 0, model_id=model.model_id)])

    def work() -> None:
        assert [m.key for m in store.get_logged_model(model.model_id).metrics] == ["acc"]
        found, _ = store.search_logged_models(["0"], "metrics.acc > 0.5",
                                              order_by=[{"field_name": "metrics.acc", "ascending": False}])
        assert [m.model_id for m in found] == [model.model_id]
        found, _ = store.search_logged_models(["0"], datasets=[{"dataset_name": "none"}])
        assert found == []

    plans = _plans_of_metric_reads(store, work)
    assert plans
    for plan in plans:
        lines = [line for line in plan.splitlines() if "metrics" in line and "logged_model" not in line]
        assert lines and all("ix_metrics_model_id" in line for line in lines), plan
