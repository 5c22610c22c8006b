"""Series resumed from checkpoints are built on their next point or warmed ahead of it (pending until
then): a restart scores exactly as an eager one, and pending series are counted, checkpointed, adopted,
capped and forgotten as built ones are."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.aiops.detection._recording import record_scores, save_first_newest
from tests.aiops.ingestion._helpers import API

import opsloop.aiops.detection.watch as watch_module
import opsloop.aiops.pipeline as pipeline_module
from opsloop.aiops.detection import MetricWatch, UnivariateEnsemble, WatchRule
from opsloop.aiops.ingestion.remote_write import encode_remote_write
from opsloop.aiops.pipeline import Pipeline
from opsloop.server.app import create_app
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.detector_state import SqlDetectorStateStore, series_key
from opsloop.storage.sql.incidents import AiopsStores
from opsloop.storage.sql.schema_aiops import aiops_detector_state as D

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
PODS = ("a", "b", "c")


def _rules() -> list[WatchRule]:
    # a forecast too, so that every part of a checkpoint (forecaster, predictor) is resumed
    return [WatchRule("latency", "latency", predict={"threshold": 160.0, "horizon": 3600}, predict_every=5),
            WatchRule("errors", "errors")]


def _labels(pod: str) -> dict[str, str]:
    return {"__name__": "latency", "pod": pod}


def _value(pod: str, i: int) -> float:
    rnd = random.Random(f"{pod}-{i}")  # the same value whichever watch sees point i
    spike = 60.0 if (pod, i) in (("a", 850), ("b", 700)) else 0.0
    climb = max(0, i - 800) * 0.5 if pod == "c" else 0.0  # c climbs towards the predicted threshold
    return 100 + 10 * ((i % 24) / 24) + rnd.gauss(0, 2) + spike + climb


def _record_builds(monkeypatch: pytest.MonkeyPatch, what: Callable[[WatchRule, Any], str]) -> list[str]:
    """``what`` of every series built from a checkpoint, in order."""
    built: list[str] = []
    real = watch_module._series_from_state

    def recording(rule: WatchRule, item: Any) -> Any:
        built.append(what(rule, item))
        return real(rule, item)

    monkeypatch.setattr(watch_module, "_series_from_state", recording)
    return built


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rule of every series built from a checkpoint, in order."""
    return _record_builds(monkeypatch, lambda rule, item: rule.name)


@pytest.fixture
def built_pods(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``pod`` label of every series built from a checkpoint, in order."""
    return _record_builds(monkeypatch, lambda rule, item: dict(item["labels"])["pod"])


@pytest.fixture
def probabilities(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every probability a univariate ensemble scores, in order."""
    return record_scores(monkeypatch, UnivariateEnsemble)


def _feed(watch: MetricWatch, start: int, stop: int, pods: tuple[str, ...] = PODS) -> list[list[dict[str, Any]]]:
    return [[s.to_dict() for s in watch.observe(_labels(pod), 60.0 * i, _value(pod, i))]
            for i in range(start, stop) for pod in pods]


def _stored(tmp_path: Path, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checkpoints as a server reads them back at start: through the SQL store."""
    store = SqlDetectorStateStore(open_database(f"sqlite:///{tmp_path / 'state.db'}"))
    store.save(items)
    return store.load()


def test_a_restart_scores_every_point_exactly_as_an_uninterrupted_run(
        tmp_path: Path, built_pods: list[str], probabilities: list[float]) -> None:
    whole = MetricWatch(_rules())  # b sends nothing for a while after the restart's time
    _feed(whole, 0, 600)
    probabilities.clear()
    expected = _feed(whole, 600, 700, pods=("a", "c")) + _feed(whole, 700, 900)
    expected_p = list(probabilities)

    first = MetricWatch(_rules())
    _feed(first, 0, 600)
    changed, _ = first.take_changes()
    resumed = MetricWatch(_rules())
    assert resumed.restore(_stored(tmp_path, changed)) == []
    assert built_pods == [] and len(resumed) == 3  # nothing is built at start
    assert resumed.warm(limit=1) and built_pods == ["c"]  # warmed before its first point: the last restored
    probabilities.clear()
    got = _feed(resumed, 600, 700, pods=("a", "c"))
    assert built_pods == ["c", "a"]  # a on its first point
    assert not resumed.warm() and built_pods == ["c", "a", "b"]  # b warmed after 100 points of the others
    got += _feed(resumed, 700, 900)
    assert built_pods == ["c", "a", "b"]  # each series once
    assert probabilities == expected_p  # every point of every series
    assert got == expected
    assert any(s["kind"] == "metric_anomaly" for sigs in got for s in sigs), "the spikes are caught"
    assert any(s["kind"] == "prediction" for sigs in got for s in sigs), "the climb is forecast"
    assert resumed.state_dict() == whole.state_dict()  # and what they learned is the same


def test_a_checkpoint_of_the_earlier_format_still_resumes(tmp_path: Path, probabilities: list[float]) -> None:
    first = MetricWatch(_rules())
    _feed(first, 0, 600)
    whole = MetricWatch(_rules())
    whole.restore(first.take_changes()[0])
    probabilities.clear()
    expected = _feed(whole, 600, 700)
    expected_p = list(probabilities)

    old = []  # as checkpoints were written before ``learned``: its parts at the top level
    for item in first.state_dict()["series"]:
        learned = orjson.loads(item.pop("learned"))
        old.append({**item, **learned})
    resumed = MetricWatch(_rules())
    assert resumed.restore(_stored(tmp_path, old)) == []
    assert resumed.state_dict() == first.state_dict()  # held (and given back) in today's form
    probabilities.clear()
    assert _feed(resumed, 600, 700) == expected
    assert probabilities == expected_p


def _plain() -> list[WatchRule]:
    return [WatchRule("latency", "latency"), WatchRule("errors", "errors")]


def _checkpoints(pods: int, name: str = "latency") -> list[dict[str, Any]]:
    """Checkpoints of ``pods`` series of rule ``name`` (of ``_plain``) after 50 points each."""
    watch = MetricWatch(_plain())
    for i in range(50):
        for k in range(pods):
            watch.observe({"__name__": name, "pod": f"p{k}"}, 60.0 * i, 1.0 + (i + k) % 5)
    return watch.take_changes()[0]


def test_pending_series_are_counted_and_checkpointed_unchanged(tmp_path: Path, builds: list[str]) -> None:
    items = _stored(tmp_path, _checkpoints(3) + _checkpoints(2, name="errors"))
    watch = MetricWatch(_plain())
    assert watch.restore(items) == []
    assert [(r["name"], r["series"]) for r in watch.status()] == [("latency", 3), ("errors", 2)]
    assert len(watch) == 5 and {"__name__": "errors", "pod": "p1"} in watch.series()
    assert watch.take_changes() == ([], [])  # nothing learned: nothing to rewrite
    assert watch.state_dict()["series"] == items  # given back as they were read

    again = MetricWatch(_plain())  # a second restart, still without a point
    again.load_state_dict(orjson.loads(orjson.dumps(watch.state_dict())))
    assert again.state_dict()["series"] == items and builds == []

    again.observe({"__name__": "errors", "pod": "p1"}, 60.0 * 50, 2.0)
    changed, gone = again.take_changes()
    assert [c["labels"] for c in changed] == [[["__name__", "errors"], ["pod", "p1"]]] and gone == []
    assert changed[0]["points"] == 51 and builds == ["errors"]
    others = [s for s in again.state_dict()["series"] if s["labels"] != changed[0]["labels"]]
    assert others == [s for s in items if s["labels"] != changed[0]["labels"]]


def test_pending_series_respect_the_cap_and_are_evicted_unbuilt(builds: list[str]) -> None:
    def pod(k: int) -> dict[str, str]:
        return {"__name__": "latency", "pod": f"p{k}"}

    watch = MetricWatch([WatchRule("latency", "latency")], max_series=3)
    assert watch.restore(_checkpoints(5)) == []
    assert watch.series() == [pod(2), pod(3), pod(4)]  # the first restored count as the least recent
    changed, gone = watch.take_changes()  # the dropped ones' checkpoints are to be deleted
    assert changed == [] and sorted(gone) == [[["__name__", "latency"], ["pod", f"p{k}"]] for k in (0, 1)]
    watch.observe(pod(2), 3000.0, 1.0)  # p2 is built and becomes the most recent
    watch.observe(pod(9), 3000.0, 1.0)  # a new series evicts the least recent: p3, never built
    assert watch.series() == [pod(4), pod(2), pod(9)] and builds == ["latency"]
    changed, gone = watch.take_changes()
    assert sorted(c["labels"][1][1] for c in changed) == ["p2", "p9"]
    assert gone == [[["__name__", "latency"], ["pod", "p3"]]]


@pytest.mark.parametrize("contain_errors", [True, False])
def test_a_corrupt_pending_checkpoint_is_logged_at_first_use_and_the_series_starts_afresh(
        contain_errors: bool, caplog: pytest.LogCaptureFixture) -> None:
    items = _checkpoints(3)
    items[0]["learned"] = items[0]["learned"][:100]  # cut short
    items[1]["learned"] = orjson.dumps({**orjson.loads(items[1]["learned"]), "detector": {"config": 1}}).decode()
    unreadable = {**items[2], "labels": "latency"}  # its labels do not read: left out at once
    watch = MetricWatch([WatchRule("latency", "latency")], contain_errors=contain_errors)
    fresh = MetricWatch([WatchRule("latency", "latency")])
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops.detection"):
        assert watch.restore(items + [unreadable]) == [unreadable]
        assert caplog.messages == ["checkpoint of a 'latency' series not restored: not enough values to unpack "
                                   "(expected 2, got 1)"]
        caplog.clear()
        assert len(watch) == 3  # read at first use only
        for i in range(60):
            for k in (0, 1):
                labels = {"__name__": "latency", "pod": f"p{k}"}
                assert watch.observe(labels, 60.0 * i, 5.0 + i % 3) == fresh.observe(labels, 60.0 * i, 5.0 + i % 3)
    assert len(caplog.messages) == 2 and all("not restored" in m for m in caplog.messages)
    assert [r["failed"] for r in watch.status()] == [None]  # the rule is not stopped
    changed, gone = watch.take_changes()  # the bad checkpoints are overwritten by what was learned since
    assert sorted(c["labels"][1][1] for c in changed) == ["p0", "p1"] and gone == []
    assert sorted(changed, key=str) == sorted(fresh.take_changes()[0], key=str)  # as if never checkpointed


def test_a_corrupt_pending_checkpoint_no_rule_takes_any_more_is_forgotten() -> None:
    [item] = _checkpoints(1)
    item["learned"] = "{"
    watch = MetricWatch([WatchRule("latency", "latency")])
    watch.restore([{**item, "labels": [["__name__", "cpu"]]}])  # a checkpoint whose labels the rule no longer matches
    assert watch.observe({"__name__": "cpu"}, 0.0, 1.0) == []
    assert len(watch) == 0 and watch.take_changes() == ([], [[["__name__", "cpu"]]])


def test_warming_builds_the_most_recently_updated_first_and_changes_nothing_else(
        tmp_path: Path, built_pods: list[str]) -> None:
    def pod(k: int) -> dict[str, str]:
        return {"__name__": "latency", "pod": f"p{k}"}

    items = _stored(tmp_path, _checkpoints(5))  # p0 … p4, the least recently updated first
    watch = MetricWatch(_plain(), max_series=5)
    assert watch.restore(items) == []
    assert watch.warm(limit=2) and built_pods == ["p4", "p3"]
    assert watch.series() == [pod(k) for k in range(5)]  # each keeps its place (how recently it was updated)
    assert [(r["name"], r["series"]) for r in watch.status()] == [("latency", 5), ("errors", 0)]
    assert watch.take_changes() == ([], [])  # nothing learned: no checkpoint to rewrite
    assert watch.state_dict()["series"] == items  # built or pending, the same checkpoints
    watch.observe(pod(9), 3000.0, 1.0)  # evicts the least recently updated, p0, never built
    assert watch.take_changes()[1] == [[["__name__", "latency"], ["pod", "p0"]]]
    assert not watch.warm() and built_pods == ["p4", "p3", "p2", "p1"]
    assert not watch.warm() and built_pods == ["p4", "p3", "p2", "p1"]  # nothing left to build
    watch.observe(pod(1), 3060.0, 2.0)
    assert built_pods == ["p4", "p3", "p2", "p1"] and watch.take_changes()[0][0]["points"] == 51


def test_a_checkpoint_that_does_not_load_when_warmed_is_forgotten_and_its_series_starts_afresh(
        caplog: pytest.LogCaptureFixture) -> None:
    items = _checkpoints(2)
    items[1]["learned"] = "{"
    watch = MetricWatch([WatchRule("latency", "latency")])
    fresh = MetricWatch([WatchRule("latency", "latency")])
    watch.restore(items)
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops.detection"):
        assert not watch.warm()
    assert [m for m in caplog.messages if "not restored" in m] and len(watch) == 1
    assert watch.take_changes() == ([], [[["__name__", "latency"], ["pod", "p1"]]])  # its checkpoint deleted
    labels = {"__name__": "latency", "pod": "p1"}
    assert [watch.observe(labels, 60.0 * i, 2.0) for i in range(3)] == [fresh.observe(labels, 60.0 * i, 2.0)
                                                                          for i in range(3)]
    assert watch.take_changes()[0] == fresh.take_changes()[0]  # as if never checkpointed


def test_a_rule_change_keeps_the_pending_series_of_unchanged_rules(builds: list[str]) -> None:
    before = MetricWatch(_plain())
    items = _checkpoints(2) + _checkpoints(1, name="errors")
    before.restore(items)
    after = MetricWatch([WatchRule("latency", "latency"), WatchRule("errors", "errors", alerter={"on": 0.999})])
    after.adopt(before)
    assert [(r["name"], r["series"]) for r in after.status()] == [("latency", 2), ("errors", 0)]
    assert after.take_changes() == ([], [[["__name__", "errors"], ["pod", "p0"]]])  # to be forgotten
    assert after.state_dict()["series"] == items[:2] and builds == []
    after.observe({"__name__": "latency", "pod": "p1"}, 3000.0, 3.0)
    assert builds == ["latency"]
    assert not after.warm() and builds == ["latency"] * 2  # p0, adopted pending, is warmed by the new watch

    nothing = MetricWatch([])  # every rule removed: every pending series is forgotten
    nothing.adopt(after)
    assert sorted(nothing.take_changes()[1]) == [[["__name__", "latency"], ["pod", "p0"]],
                                                 [["__name__", "latency"], ["pod", "p1"]]]


def test_the_pipeline_tick_warms_restored_series_the_most_recently_checkpointed_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built_pods: list[str]) -> None:
    monkeypatch.setattr(pipeline_module, "WARM_SLICE_S", 0.0)  # one series a slice under the lock
    stores = AiopsStores(open_database(f"sqlite:///{tmp_path / 'p.db'}"))
    Pipeline(stores, mine_logs=False).set_config("watch_rules", [{"name": "latency", "selector": "latency"}])
    items = _checkpoints(5)
    save_first_newest(stores, tmp_path / "p.db", items)  # p0 checkpointed last, p4 first
    saved = stores.detector_state.load()
    assert [dict(item["labels"])["pod"] for item in saved] == ["p4", "p3", "p2", "p1", "p0"]

    pipeline = Pipeline(stores, mine_logs=False)
    pipeline.load()
    assert built_pods == []
    assert pipeline.warm_detectors(budget_s=0.0) and built_pods == ["p0"]  # one slice
    for _ in range(4):  # a slice at least a tick
        pipeline.tick()
    assert built_pods == ["p0", "p1", "p2", "p3", "p4"] and not pipeline.warm_detectors()
    assert [r["series"] for r in pipeline.detection_status()["watch_rules"]] == [5]
    assert stores.detector_state.load() == saved  # nothing rewritten


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_store_reads_a_checkpoint_up_to_its_learned_part_and_gives_it_back_whole(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    store = SqlDetectorStateStore(db)
    today = _checkpoints(3)  # learned, a JSON string, last
    after = {**today[1], "labels": [["__name__", "latency"], ["pod", "x"]], "note": "learned is not last"}
    nested = {"labels": [["__name__", "latency"], ["pod", "y"]], "rule": "latency",
              "detector": {"a": 1, "learned": "}"}, "predictor": "x"}  # an earlier form, its last member a string
    store.save(today[:2] + [after, nested])

    def rows() -> dict[str, str]:
        with db.read() as conn:
            return dict(conn.execute(select(D.c.key, D.c.state)).all())

    p0, p1 = (series_key(item["labels"]) for item in today[:2])
    stored = rows()
    with db.write() as conn:  # p1's learned part no longer reads (an escape that JSON has not)
        conn.execute(update(D).where(D.c.key == p1).values(state=stored[p1].replace('\\"', "\\x", 1)))
    loaded = {item["labels"][1][1]: item for item in store.load()}
    assert loaded == {"p0": today[0], "p1": {**today[1], "learned": loaded["p1"]["learned"]}, "x": after, "y": nested}
    assert dict(loaded["p0"]) == today[0] and "learned" in loaded["p0"] and loaded["p0"].get("kind") is None
    store.save([dict(loaded["p0"])])
    assert rows()[p0] == stored[p0]  # given back as it was stored

    watch = MetricWatch([WatchRule("latency", "latency")])
    assert watch.restore([loaded["p0"], loaded["p1"]]) == []
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops.detection"):
        assert not watch.warm()
    assert len(caplog.messages) == 1 and "not restored" in caplog.messages[0]  # p1 is forgotten, p0 resumes
    assert watch.series() == [{"__name__": "latency", "pod": "p0"}] and watch.state_dict()["series"] == [today[0]]


# --- at the server ----------------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path) -> Iterator[Callable[[], TestClient]]:
    settings = load_settings({"storage": {"data_dir": str(tmp_path / "data")},
                              "ingestion": {"detector_checkpoint_s": 0.001}}, environ={})
    yield lambda: TestClient(create_app(settings))


def _rows(tmp_path: Path) -> dict[str, tuple[str, float]]:
    with sqlite3.connect(tmp_path / "data" / "opsloop.db") as conn:
        return {key: (state, at) for key, state, at in conn.execute(
            "SELECT key, state, updated_at FROM aiops_detector_state")}


def test_the_server_starts_with_pending_series_and_leaves_their_checkpoints_alone(
        tmp_path: Path, app: Callable[[], TestClient], builds: list[str]) -> None:
    t0 = float(int(time.time()) - 400 * 60)
    with app() as client:
        assert client.put(API + "/aiops/config/watch_rules", json=[{"name": "m", "selector": "m"}]).status_code == 200
        body = encode_remote_write([({"__name__": "m", "pod": p}, [(t0 + 60 * i, 1.0 + i % 4) for i in range(300)])
                                    for p in PODS])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    saved = _rows(tmp_path)
    assert len(saved) == 3
    with app() as client:  # a restart without points: the tick builds them, nothing is rewritten
        assert [r["series"] for r in client.get(API + "/aiops/detection").json()["watch_rules"]] == [3]
        client.app.state.aiops.tick()  # type: ignore[attr-defined]
        assert builds == ["m"] * 3
        assert [r["series"] for r in client.get(API + "/aiops/detection").json()["watch_rules"]] == [3]
    assert _rows(tmp_path) == saved
    with app() as client:
        body = encode_remote_write([({"__name__": "m", "pod": "a"}, [(t0 + 60 * 300, 2.0)])])
        assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
        client.app.state.aiops.tick()  # type: ignore[attr-defined]
        rows = _rows(tmp_path)
        assert [k for k in rows if rows[k] != saved[k]] == [k for k in saved if '"pod","a"' in saved[k][0]]
        assert builds == ["m"] * 6  # each series once a start, on its point or by a tick
        assert client.put(API + "/aiops/config/watch_rules", json=[]).status_code == 200  # the rule removed
        assert _rows(tmp_path) == {}  # pending or built, every checkpoint is forgotten
