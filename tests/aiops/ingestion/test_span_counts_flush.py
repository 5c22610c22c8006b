"""Span counts (``trace_spans``/``trace_error_spans``) are true totals over processes and restarts.

The minute under way is stored at a clean shutdown, and every process's count of a minute is added to
the stored sample (a restart in the same minute, or another worker), never replacing it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.aiops.ingestion._helpers import aiops_client
from tests.aiops.ingestion.test_otlp_traces import export_json, span_json
from tests.conftest import ServerProcess

from opsloop.aiops.ingestion.otlp_traces import DecodedSpans, SpanCall
from opsloop.aiops.pipeline import Pipeline
from opsloop.storage.sql import open_database
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.metric_points import SqlMetricPointStore

MINUTE = 1_800_000_000.0  # a minute start (epoch seconds)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return open_database(f"sqlite:///{tmp_path / 'counts.db'}")
    return open_database(request.getfixturevalue("postgres_url"))


def spans(service: str, total: int, errors: int) -> dict:
    out = []
    for i in range(total):
        doc = span_json(os.urandom(16).hex(), os.urandom(8).hex())
        if i < errors:
            doc["status"] = {"code": "STATUS_CODE_ERROR"}
        out.append(doc)
    return export_json((service, out))


def stored(store: SqlMetricPointStore, service: str) -> dict[str, list[list[float]]]:
    """The stored samples of the two span-count series of ``service``, by metric name."""
    return {s["name"]: store.points(s["series"])["points"]
            for s in store.series(name="trace_", service=service)}


# --- the store --------------------------------------------------------------------------------------
def test_added_samples_sum_per_series_and_time_while_appended_ones_replace(db: Database) -> None:
    store = SqlMetricPointStore(db)
    store.add([("s", 60.0, 3.0), ("s", 120.0, 1.0), ("s", 60.0, 2.0)])  # the same key twice in a batch adds up
    store.add([("s", 60.0, 4.0), ("t", 60.0, 1.0)])  # a second writer of the same minute
    assert store.points("s")["points"] == [[60.0, 9.0], [120.0, 1.0]]
    assert store.points("t")["points"] == [[60.0, 1.0]]
    store.append([("s", 60.0, 5.0)])  # ordinary samples keep their last-wins semantics
    assert store.points("s")["points"][0] == [60.0, 5.0]


# --- two pipelines on one store (two workers) -----------------------------------------------------------
def calls(service: str, total: int, errors: int) -> DecodedSpans:
    return DecodedSpans(spans=[SpanCall(os.urandom(16).hex(), os.urandom(8).hex(), "", service, 2, error=i < errors)
                               for i in range(total)])


class Judged:
    """Stands in for the threshold rules: what the pipeline shows them, as (name, minute, value)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float, float]] = []

    def observe(self, labels: dict[str, str], time: float, value: float) -> list:
        self.seen.append((labels["__name__"], time, value))
        return []


def test_two_workers_counting_the_same_minute_add_up(db: Database) -> None:
    now = [MINUTE - 30]  # both start before the minute, so they count it whole
    stores = AiopsStores(db)
    workers = [Pipeline(stores, clock=lambda: now[0], mine_logs=False) for _ in range(2)]
    judged = [Judged(), Judged()]
    for w, j in zip(workers, judged, strict=True):
        w.load()  # (which builds the configured rules)
        w.thresholds = j
    now[0] = MINUTE + 10
    workers[0].observe_spans(calls("checkout", 5, 2))
    workers[1].observe_spans(calls("checkout", 3, 1))
    now[0] = MINUTE + 65
    for w in workers:
        w.tick()
    assert stored(stores.metric_points, "checkout") == {"trace_spans": [[MINUTE, 8.0]],
                                                         "trace_error_spans": [[MINUTE, 3.0]]}
    # each worker's rules and detectors judge the spans it received, as for any metric sample it is sent
    assert judged[0].seen == [("trace_spans", MINUTE, 5.0), ("trace_error_spans", MINUTE, 2.0)]
    assert judged[1].seen == [("trace_spans", MINUTE, 3.0), ("trace_error_spans", MINUTE, 1.0)]


def test_a_part_of_a_minute_is_stored_but_not_judged(db: Database) -> None:
    """The minute a process starts in, or stops in, is counted in part: shown to the threshold rules and
    detectors it would look like a drop in traffic at every restart."""
    now = [MINUTE + 30]  # started within the minute: it sees only its second half
    stores = AiopsStores(db)
    pipeline = Pipeline(stores, clock=lambda: now[0], mine_logs=False)
    pipeline.load()
    pipeline.thresholds = judged = Judged()
    pipeline.observe_spans(calls("checkout", 5, 5))
    now[0] = MINUTE + 70
    pipeline.observe_spans(calls("checkout", 4, 1))
    now[0] = MINUTE + 125
    pipeline.tick()
    pipeline.observe_spans(calls("checkout", 2, 0))
    pipeline.flush_span_counts()  # at shutdown
    assert judged.seen == [("trace_spans", MINUTE + 60, 4.0), ("trace_error_spans", MINUTE + 60, 1.0)]
    assert stored(stores.metric_points, "checkout") == {
        "trace_spans": [[MINUTE, 5.0], [MINUTE + 60, 4.0], [MINUTE + 120, 2.0]],
        "trace_error_spans": [[MINUTE, 5.0], [MINUTE + 60, 1.0], [MINUTE + 120, 0.0]]}


# --- shutdown and restart -----------------------------------------------------------------------------
def test_a_clean_shutdown_stores_the_minute_under_way_and_a_restart_adds_to_it(tmp_path: Path) -> None:
    for at, batch in ((MINUTE + 10, spans("checkout", 3, 1)), (MINUTE + 40, spans("checkout", 2, 2))):
        with aiops_client(tmp_path) as client:
            pipeline = client.app.state.aiops  # type: ignore[attr-defined]
            pipeline.clock = lambda at=at: at
            assert client.post("/v1/traces", json=batch).status_code == 200
            store = pipeline.stores.metric_points
        # the app stopped within the minute: its count so far is stored, and the restart added to it
    assert stored(store, "checkout") == {"trace_spans": [[MINUTE, 5.0]], "trace_error_spans": [[MINUTE, 3.0]]}


def test_a_real_server_with_two_workers_then_a_restart_stores_every_span_once(
        opsloop_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = tmp_path / "data"
    sent = {"spans": 0, "errors": 0}
    minutes = set()
    for extra, posts in ((["--workers", "2"], 12), ([], 3)):
        server = opsloop_server(data, extra).aiops_ready()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for i in range(posts):
                minutes.add(time.time() // 60)
                r = http.post("/v1/traces", json=spans("checkout", 2 + i % 3, i % 2))
                assert r.status_code == 200, r.text
                sent["spans"] += 2 + i % 3
                sent["errors"] += i % 2
                minutes.add(time.time() // 60)
        server.stop()  # SIGTERM: a clean shutdown
    got = stored(SqlMetricPointStore(open_database(f"sqlite:///{data / 'opsloop.db'}")), "checkout")
    assert sum(v for _t, v in got.get("trace_spans", [])) == sent["spans"]
    assert sum(v for _t, v in got.get("trace_error_spans", [])) == sent["errors"]
    if len(minutes) == 1:  # all of it arrived within one minute: one sample, the total
        assert len(got["trace_spans"]) == 1
