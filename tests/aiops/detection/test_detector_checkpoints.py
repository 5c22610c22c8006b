"""What the metric detectors learned survives a restart of the server: each watched series is checkpointed
(periodically and at shutdown) and resumed at start, so a spike right after a restart is still caught."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.aiops.ingestion._helpers import API, signals

from opsloop.aiops.detection import MetricWatch, ServiceRule, ServiceWatch, WatchRule
from opsloop.aiops.ingestion.remote_write import encode_remote_write
from opsloop.server.app import create_app
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.detector_state import SqlDetectorStateStore

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
RULE = {"name": "latency", "selector": 'latency{job="api"}'}


def _stream(n: int, seed: int = 3) -> list[float]:
    rnd = random.Random(seed)
    return [100 + 10 * ((i % 24) / 24) + rnd.gauss(0, 2) for i in range(n)]


def test_a_resumed_watch_scores_exactly_as_one_that_never_stopped() -> None:
    rule = WatchRule("latency", "latency")
    values = _stream(900)
    values[850] += 60
    labels = {"__name__": "latency", "pod": "a"}
    whole, first = MetricWatch([rule]), MetricWatch([rule])
    expected = [whole.observe(labels, 60.0 * i, v) for i, v in enumerate(values)]
    for i, v in enumerate(values[:600]):
        first.observe(labels, 60.0 * i, v)
    changed, gone = first.take_changes()
    assert [c["labels"] for c in changed] == [[["__name__", "latency"], ["pod", "a"]]] and gone == []
    assert first.take_changes() == ([], [])  # nothing learned since

    resumed = MetricWatch([WatchRule("latency", "latency")])
    assert resumed.restore(changed) == []
    got = [resumed.observe(labels, 60.0 * i, v) for i, v in enumerate(values[600:], start=600)]
    assert [[s.to_dict() for s in sigs] for sigs in got] == [[s.to_dict() for s in sigs] for sigs in expected[600:]]
    assert any(got), "the spike is caught"

    # a checkpoint taken under another definition of the rule is not restored
    redefined = MetricWatch([WatchRule("latency", "latency", alerter={"on": 0.999})])
    assert redefined.restore(changed) == changed and len(redefined) == 0


def test_a_configuration_change_keeps_the_series_of_unchanged_rules() -> None:
    watch = MetricWatch([WatchRule("a", "a"), WatchRule("b", "b")])
    for i, v in enumerate(_stream(100)):
        watch.observe({"__name__": "a"}, 60.0 * i, v)
        watch.observe({"__name__": "b"}, 60.0 * i, v)
    watch.take_changes()
    changed = MetricWatch([WatchRule("a", "a"), WatchRule("b", "b", alerter={"on": 0.999})])
    changed.adopt(watch)
    assert changed.series() == [{"__name__": "a"}]
    assert changed.take_changes() == ([], [[["__name__", "b"]]])  # b's checkpoint is to be forgotten


def _app(data: Path) -> TestClient:
    settings = load_settings({"storage": {"data_dir": str(data)}, "ingestion": {"detector_checkpoint_s": 0.001}},
                             environ={})
    return TestClient(create_app(settings))


def _send(client: TestClient, points: list[tuple[float, float]]) -> None:
    for k in range(0, len(points), 200):
        body = encode_remote_write([({"__name__": "latency", "job": "api"}, points[k:k + 200])])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204


def test_the_server_resumes_its_detectors_after_a_restart(tmp_path: Path) -> None:
    t0 = float(int(time.time()) - 2000 * 5)
    warm = [(t0 + 5 * i, v) for i, v in enumerate(_stream(800))]
    with _app(tmp_path / "data") as client:
        assert client.put(API + "/aiops/config/watch_rules", json=[RULE]).status_code == 200
        _send(client, warm)
        assert not [s for s in signals(client, kind="metric_anomaly") if s["time"] >= warm[700][0]]
    # shut down cleanly (checkpointed); the first point after the restart is a spike
    with _app(tmp_path / "data") as client:
        _send(client, [(t0 + 5 * 800, 400.0)])
        [spike] = signals(client, kind="metric_anomaly")
        assert spike["time"] == t0 + 5 * 800 and spike["labels"]["rule"] == "latency"
        # the periodic checkpoint (the tick) also saves what was learned since
        _send(client, [(t0 + 5 * (801 + i), v) for i, v in enumerate(_stream(100, seed=4))])
        client.app.state.aiops.tick()  # type: ignore[attr-defined]
        saved = client.app.state.aiops.stores.detector_state.load()  # type: ignore[attr-defined]
        assert [item["points"] for item in saved] == [901]
        # removing the rule forgets its checkpoints
        assert client.put(API + "/aiops/config/watch_rules", json=[]).status_code == 200
        assert client.app.state.aiops.stores.detector_state.load() == []  # type: ignore[attr-defined]


def test_without_its_checkpoint_the_same_spike_is_missed(tmp_path: Path) -> None:
    # The control for the test above: a server that lost what it learned is blind to that spike.
    t0 = float(int(time.time()) - 2000 * 5)
    with _app(tmp_path / "data") as client:
        assert client.put(API + "/aiops/config/watch_rules", json=[RULE]).status_code == 200
        _send(client, [(t0 + 5 * i, v) for i, v in enumerate(_stream(800))])
        client.app.state.aiops.stores.detector_state.delete(  # type: ignore[attr-defined]
            client.app.state.aiops.stores.detector_state.load())  # type: ignore[attr-defined]
        client.app.state.aiops.metric_watch = None  # type: ignore[attr-defined]
    with _app(tmp_path / "data") as client:
        _send(client, [(t0 + 5 * 800, 400.0)])
        assert signals(client, kind="metric_anomaly") == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_checkpoint_store_upserts_deletes_and_skips_unreadable_rows(backend: str, tmp_path: Path,
                                                                        request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    store = SqlDetectorStateStore(db)
    a = {"labels": [["__name__", "a"], ["pod", "p-ü"]], "rule": "r", "points": 1, "detector": {"x": [1.5, None]}}
    b = {"labels": [["__name__", "b"]], "rule": "r", "points": 7}
    store.save([a, b])
    store.save([{**a, "points": 2}], [b["labels"]])  # one transaction: a updated, b forgotten
    assert store.load() == [{**a, "points": 2}]
    with db.write() as conn:
        conn.exec_driver_sql("INSERT INTO aiops_detector_state (key, rule, state, updated_at) VALUES ('k', 'r', '{', 0)")
    assert store.load() == [{**a, "points": 2}]
    store.delete([a])
    assert store.load() == []


def _vectors(watch: ServiceWatch, start: int, stop: int, break_at: int = 10**9) -> list[list[dict]]:
    out = []
    for i in range(start, stop):
        rnd = random.Random(i)  # the same values whichever watch sees point i
        load = 100 + 20 * math.sin(2 * math.pi * i / 60) + rnd.gauss(0, 2)
        latency = 0.5 * load + rnd.gauss(0, 1) + (60 if i >= break_at else 0)
        sigs = []
        for name, v in (("rps", load), ("latency_ms", latency), ("errors", rnd.random())):
            sigs += watch.observe({"__name__": name, "service": "checkout"}, 60.0 * i + 5, v)
        out.append([s.to_dict() for s in sigs])
    return out


def test_a_resumed_service_watch_scores_exactly_as_one_that_never_stopped() -> None:
    def rule() -> ServiceRule:
        return ServiceRule("svc", '{service="checkout"}', detector={
            "class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees", "params": {"window_size": 100}})

    whole, first = ServiceWatch([rule()]), ServiceWatch([rule()])
    expected = _vectors(whole, 0, 1500, break_at=1400)
    _vectors(first, 0, 1000)
    changed, gone = first.take_changes()
    assert [c["group"] for c in changed] == [["checkout"]] and gone == []
    resumed = ServiceWatch([rule()])
    assert resumed.restore(changed) == []
    assert _vectors(resumed, 1000, 1500, break_at=1400) == expected[1000:]
    assert any(expected[1400:]), "the broken latency is caught"
    assert ServiceWatch([ServiceRule("svc", '{service="checkout"}')]).restore(changed) == changed  # redefined


def test_the_server_resumes_service_groups_and_forgets_them_with_their_rule(tmp_path: Path) -> None:
    rule = {"name": "svc", "selector": '{job="api"}'}
    t0 = float(int(time.time()) - 400 * 60)
    with _app(tmp_path / "data") as client:
        assert client.put(API + "/aiops/config/service_rules", json=[rule]).status_code == 200
        body = encode_remote_write([({"__name__": n, "job": "api", "service": "shop"},
                                     [(t0 + 60 * i, 1.0 + i % 5) for i in range(300)]) for n in ("a", "b")])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    with _app(tmp_path / "data") as client:
        pipeline = client.app.state.aiops  # type: ignore[attr-defined]
        assert pipeline.service_watch.groups() == [{"service": "shop"}]
        assert [item["kind"] for item in pipeline.stores.detector_state.load()] == ["service"]
        assert client.put(API + "/aiops/config/service_rules", json=[]).status_code == 200
        assert pipeline.stores.detector_state.load() == []


def test_checkpoints_are_taken_in_slices_oldest_change_first() -> None:
    watch = MetricWatch([WatchRule("m", "m")])

    def point(k: int, i: int) -> None:
        watch.observe({"__name__": "m", "k": f"{k:02d}"}, 60.0 * i, 1.0)

    for k in range(10):
        point(k, 0)
    first, _ = watch.take_changes(limit=4)
    assert [c["labels"][1][1] for c in first] == ["00", "01", "02", "03"]
    for k in range(4):  # the first four change again: they queue behind the six still waiting
        point(k, 1)
    second, _ = watch.take_changes(limit=4)
    assert sorted(c["labels"][1][1] for c in second) == ["04", "05", "06", "07"]
    assert watch.has_changes()
    rest, _ = watch.take_changes()
    assert sorted(c["labels"][1][1] for c in rest) == ["00", "01", "02", "03", "08", "09"]
    assert not watch.has_changes()


def test_the_tick_saves_a_slice_and_comes_back_for_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import opsloop.aiops.pipeline as pipeline_module
    import opsloop.server.aiops as server_aiops

    monkeypatch.setattr(pipeline_module, "CHECKPOINT_SLICE", 2)
    # the ticks counted here are the test's own: the server's periodic tick (every 5 s) would take slices
    # of its own, between the post and the ticks below or between two of them
    monkeypatch.setattr(server_aiops, "TICK_S", 3600.0)
    t0 = float(int(time.time()) - 100)
    with _app(tmp_path / "data") as client:
        assert client.put(API + "/aiops/config/watch_rules", json=[{"name": "m", "selector": "m"}]).status_code == 200
        body = encode_remote_write([({"__name__": "m", "k": str(k)}, [(t0, 1.0)]) for k in range(5)])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
        pipeline = client.app.state.aiops  # type: ignore[attr-defined]
        store = pipeline.stores.detector_state
        store.delete(store.load())
        pipeline._checkpointed_at = 0.0
        counts = []
        for _ in range(4):
            pipeline.tick()
            counts.append(len(store.load()))
        assert counts == [2, 4, 5, 5]
