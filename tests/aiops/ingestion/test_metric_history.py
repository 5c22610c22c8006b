"""Metric sample history: every ingested sample kept for charts, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import time

import pytest
from tests.aiops.ingestion._helpers import API, aiops_client

from opsloop.aiops.ingestion.normalise import Decoded, MetricPoint
from opsloop.aiops.pipeline import Pipeline
from opsloop.errors import InvalidInputError
from opsloop.storage.sql import open_database
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.metric_points import SqlMetricPointStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> SqlMetricPointStore:  # noqa: ANN001
    if request.param == "sqlite":
        return SqlMetricPointStore(open_database(f"sqlite:///{tmp_path / 'm.db'}"))
    db = open_database(request.getfixturevalue("postgres_url"))
    with db.write() as conn:
        conn.exec_driver_sql("DELETE FROM aiops_metric_points")
    return SqlMetricPointStore(db)


def test_samples_round_trip_in_time_order_and_resends_replace(store: SqlMetricPointStore) -> None:
    assert store.append([("a", 30.0, 3.0), ("a", 10.0, 1.0), ("b", 10.0, 9.0), ("a", 20.0, 2.0)]) == 4
    store.append([("a", 20.0, 2.5)])  # the same timestamp again: the newer value wins
    got = store.points("a")
    assert got["points"] == [[10.0, 1.0], [20.0, 2.5], [30.0, 3.0]] and got["count"] == 3
    assert got["bucket_s"] is None
    assert store.points("a", start=15, end=25)["points"] == [[20.0, 2.5]]
    assert store.points("unknown")["points"] == []


def test_nan_is_stored_as_a_gap_and_infinities_survive(store: SqlMetricPointStore) -> None:
    store.append([("s", 1.0, math.nan), ("s", 2.0, math.inf), ("s", 3.0, -1e300)])
    assert store.points("s")["points"] == [[1.0, None], [2.0, math.inf], [3.0, -1e300]]


def test_long_ranges_come_back_as_buckets_with_mean_min_max(store: SqlMetricPointStore) -> None:
    store.append([("s", float(t), float(t % 10)) for t in range(1000)])
    got = store.points("s", max_points=10)
    assert got["count"] == 1000 and got["bucket_s"] == pytest.approx(99.9)
    assert [p[0] for p in got["points"]] == [100.0 * b for b in range(10)]
    for _t, mean, low, high in got["points"]:
        assert (mean, low, high) == (pytest.approx(4.5), 0.0, 9.0)


def test_prune_drops_only_older_samples(store: SqlMetricPointStore) -> None:
    store.append([("s", float(t), 1.0) for t in range(10)])
    assert store.prune(before=5.0) == 5
    assert [p[0] for p in store.points("s")["points"]] == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_bad_ranges_are_refused(store: SqlMetricPointStore) -> None:
    with pytest.raises(InvalidInputError) as err:
        store.points("s", max_points=0)
    assert err.value.field == "max_points"
    with pytest.raises(InvalidInputError) as err:
        store.points("s", start=10, end=5)
    assert err.value.field == "end"


def _gauge(name: str, samples: list[tuple[float, float]], **attrs: str) -> dict:
    points = [{"timeUnixNano": str(int(t * 1e9)), "asDouble": v,
               "attributes": [{"key": k, "value": {"stringValue": val}} for k, val in attrs.items()]}
              for t, v in samples]
    return {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeMetrics": [{"metrics": [{"name": name, "gauge": {"dataPoints": points}}]}]}]}


def test_ingested_otlp_samples_are_listed_and_charted(tmp_path) -> None:  # noqa: ANN001
    now = time.time()
    with aiops_client(tmp_path) as client:
        assert client.post("/v1/metrics", json=_gauge("queue_depth", [(now - 20, 1), (now - 10, 2)])).status_code == 200
        assert client.post("/v1/metrics", json=_gauge("queue_depth", [(now, 4)])).status_code == 200
        assert client.post("/v1/metrics", json=_gauge("cpu_ratio", [(now, 0.5)], cpu="0")).status_code == 200
        series = client.get(API + "/metrics/series", params={"name": "queue"}).json()["series"]
        assert [(s["name"], s["service"], s["last_value"]) for s in series] == [("queue_depth", "checkout", 4.0)]
        assert series[0]["last_time"] == pytest.approx(now, abs=1e-3)
        got = client.get(API + "/metrics/points", params={"series": series[0]["series"]}).json()
        assert [v for _t, v in got["points"]] == [1.0, 2.0, 4.0]
        cpu = client.get(API + "/metrics/series", params={"name": "cpu"}).json()["series"]
        assert cpu[0]["labels"]["cpu"] == "0"
        assert client.get(API + "/metrics/series", params={"name": "%"}).json()["series"] == []  # literal, not LIKE
        r = client.get(API + "/metrics/points", params={"series": series[0]["series"], "max_points": 0})
        assert r.status_code == 422 and r.json()["field"] == "max_points"
        r = client.get(API + "/metrics/points")
        assert r.status_code == 422 and r.json()["field"] == "series"


def test_zero_history_keeps_no_samples(tmp_path) -> None:  # noqa: ANN001
    with aiops_client(tmp_path, metric_history_days=0) as client:
        client.post("/v1/metrics", json=_gauge("queue_depth", [(time.time(), 1)]))
        series = client.get(API + "/metrics/series").json()["series"]
        assert len(series) == 1  # the series itself is still known, with its latest value
        assert client.get(API + "/metrics/points", params={"series": series[0]["series"]}).json()["points"] == []


def test_the_pipeline_tick_enforces_the_retention_window(tmp_path) -> None:  # noqa: ANN001
    now = [1_000_000.0]
    stores = AiopsStores(open_database(f"sqlite:///{tmp_path / 'p.db'}"))
    pipeline = Pipeline(stores, clock=lambda: now[0], metric_history_s=3600)
    labels = {"__name__": "disk_used", "service": "db"}
    pipeline.ingest(Decoded(points=[MetricPoint(labels, now[0] - 7200 + i, float(i)) for i in range(3)]
                    + [MetricPoint(labels, now[0] - 60, 9.0)], source="test"))
    (series,) = stores.metric_points.series(name="disk_used")
    assert stores.metric_points.points(series["series"])["count"] == 4
    pipeline.tick()
    assert stores.metric_points.points(series["series"])["points"] == [[now[0] - 60, 9.0]]


def test_detector_signals_name_the_series_they_came_from(tmp_path) -> None:  # noqa: ANN001
    import random

    from opsloop.aiops.ingestion.remote_write import encode_remote_write

    pb = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
    with aiops_client(tmp_path) as client:
        rules = [{"name": "api-latency", "selector": 'latency{job="api"}'}]
        assert client.put(API + "/aiops/config/watch_rules", json=rules).status_code == 200
        limit = [{"name": "TooSlow", "selector": "latency", "above": 300, "for_s": 0}]
        assert client.put(API + "/aiops/config/metric_rules", json=limit).status_code == 200
        rnd = random.Random(0)
        t0 = time.time() - 3000
        points = [(t0 + i * 5, 100 + rnd.gauss(0, 2) + (400 if 500 <= i < 520 else 0)) for i in range(600)]
        for k in range(0, len(points), 100):
            body = encode_remote_write([({"__name__": "latency", "job": "api"}, points[k:k + 100])])
            assert client.post("/api/v1/write", content=body, headers=pb).status_code == 204
        (series,) = client.get(API + "/metrics/series", params={"name": "latency"}).json()["series"]
        derived = [s for s in client.get(API + "/signals", params={"limit": 1000}).json()["signals"]
                   if s["kind"] != "metric"]
        assert {s["kind"] for s in derived} == {"metric_anomaly"}
        sources = {s["source"] for s in derived}
        assert "rule:TooSlow" in sources and len(sources) == 2  # the threshold rule and the detector
        resolved = [s for s in derived if s["source"] == "rule:TooSlow"]
        assert resolved and resolved[0]["status"] == "resolved"  # resolving used to crash the write (500)
        assert {s["evidence"]["series"] for s in derived} == {series["series"]}
        spike = client.get(API + "/metrics/points", params={"series": series["series"], "start": t0 + 2499,
                                                             "end": t0 + 2601}).json()["points"]
        assert [round(t - t0) for t, _v in spike] == list(range(2500, 2601, 5))
