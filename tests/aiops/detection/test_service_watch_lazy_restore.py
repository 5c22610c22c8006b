"""Service groups resumed from checkpoints are built on their next point or warmed ahead of it (pending
until then): a restart scores every vector exactly as an eager restore and an uninterrupted run, and
pending groups are counted, checkpointed, adopted, capped and forgotten as built ones are."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.aiops.detection._recording import record_scores, save_first_newest

import opsloop.aiops.detection.service_watch as service_module
import opsloop.aiops.pipeline as pipeline_module
from opsloop.aiops.detection import ServiceRule, ServiceWatch
from opsloop.aiops.detection.multivariate import HalfSpaceTrees
from opsloop.aiops.pipeline import Pipeline
from opsloop.storage.sql import open_database
from opsloop.storage.sql.detector_state import SqlDetectorStateStore
from opsloop.storage.sql.incidents import AiopsStores

SERVICES = ("a", "b", "c")
_HST = "opsloop.aiops.detection.multivariate.HalfSpaceTrees"
RULE = {"name": "svc", "selector": '{job="api"}', "detector": {"class": _HST, "params": {"window_size": 50}}}


def _rule() -> ServiceRule:
    return ServiceRule(**RULE)  # type: ignore[arg-type]


def _labels(name: str, service: str) -> dict[str, str]:
    return {"__name__": name, "job": "api", "service": service}


def _feed(watch: ServiceWatch, start: int, stop: int, services: tuple[str, ...] = SERVICES) -> list[list[dict]]:
    """Buckets ``start`` … ``stop`` of three metrics per service; a's latency breaks at 420, b's at 380."""
    out = []
    for i in range(start, stop):
        for svc in services:
            rnd = random.Random(f"{svc}-{i}")  # the same values whichever watch sees bucket i
            load = 100 + 10 * ((i % 30) / 30) + rnd.gauss(0, 2)
            broken = (svc, i >= 420) == ("a", True) or (svc, i >= 380) == ("b", True)
            latency = 0.5 * load + rnd.gauss(0, 1) + (80 if broken else 0)
            for name, v in (("rps", load), ("latency_ms", latency), ("errors", rnd.random())):
                out.append([s.to_dict() for s in watch.observe(_labels(name, svc), 60.0 * i + 5, v)])
    return out


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The service of every group built from a checkpoint, in order."""
    seen: list[str] = []
    real = service_module._group_from_state

    def recording(rule: ServiceRule, key: Any, item: Any) -> Any:
        seen.append(key[1][0])
        return real(rule, key, item)

    monkeypatch.setattr(service_module, "_group_from_state", recording)
    return seen


@pytest.fixture
def probabilities(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every probability a half-space-trees detector scores, in order."""
    return record_scores(monkeypatch, HalfSpaceTrees)


def _stored(tmp_path: Path, items: list[dict[str, Any]]) -> list[Any]:
    """The checkpoints as a server reads them back at start: through the SQL store."""
    store = SqlDetectorStateStore(open_database(f"sqlite:///{tmp_path / 'state.db'}"))
    store.save(items)
    return store.load()


def _checkpoints(n: int = 3, buckets: int = 60) -> list[dict[str, Any]]:
    """Checkpoints of groups ``s0`` … of ``RULE`` after ``buckets`` buckets, the least recently updated first."""
    watch = ServiceWatch([_rule()])
    for i in range(buckets):
        for k in range(n):
            for m in ("rps", "latency_ms"):
                watch.observe(_labels(m, f"s{k}"), 60.0 * i, 1.0 + (i + k) % 5)
    return watch.take_changes()[0]


def _after_restart(watch: ServiceWatch, warm: Callable[[], Any]) -> list[list[dict]]:
    """What a restarted watch gives: b sends nothing for a while, ``warm`` runs after 50 buckets of a and c."""
    out = _feed(watch, 300, 350, services=("a", "c"))
    warm()
    return out + _feed(watch, 350, 450)


def test_a_lazy_restart_scores_every_vector_exactly_as_an_eager_one_and_an_uninterrupted_run(
        tmp_path: Path, built: list[str], probabilities: list[float]) -> None:
    whole = ServiceWatch([_rule()])
    _feed(whole, 0, 300)
    probabilities.clear()
    expected = _after_restart(whole, lambda: None)
    expected_p = list(probabilities)

    first = ServiceWatch([_rule()])
    _feed(first, 0, 300)
    changed, gone = first.take_changes()
    assert gone == [] and all(list(item)[-1] == "learned" for item in changed)  # the store reads a row up to it
    saved = _stored(tmp_path, changed)
    assert not any(isinstance(item, dict) for item in saved)  # each read up to its learned part, left as text

    eager = ServiceWatch([_rule()])  # every group built at once, as restore did before
    assert eager.restore(saved) == [] and not eager.warm() and built == ["c", "b", "a"]
    probabilities.clear()
    assert _after_restart(eager, lambda: None) == expected
    assert probabilities == expected_p

    built.clear()
    lazy = ServiceWatch([_rule()])
    assert lazy.restore(saved) == [] and built == [] and len(lazy) == 3  # nothing is built at start
    assert lazy.warm(limit=1) and built == ["c"]  # warmed before its first point: the last restored
    probabilities.clear()
    got = _after_restart(lazy, lambda: lazy.warm())  # a is built on its point, b warmed after 50 buckets
    assert built == ["c", "a", "b"]  # each group once
    assert probabilities == expected_p  # every vector of every group
    assert got == expected
    assert any(s["service"] == "a" for sigs in got for s in sigs), "a's broken latency is caught"
    assert any(s["service"] == "b" for sigs in got for s in sigs), "b's broken latency is caught"
    assert sorted(lazy.take_changes()[0], key=str) == sorted(whole.take_changes()[0], key=str)  # same learned


def test_a_checkpoint_of_the_earlier_format_still_resumes(tmp_path: Path, probabilities: list[float]) -> None:
    first = ServiceWatch([_rule()])
    _feed(first, 0, 300)
    changed = first.take_changes()[0]
    today = ServiceWatch([_rule()])
    today.restore(changed)
    probabilities.clear()
    expected = _feed(today, 300, 400)
    expected_p = list(probabilities)

    old = []  # as checkpoints were written before ``learned``: detector and alerter at the top level
    for item in changed:
        head = dict(item)
        old.append({**head, **orjson.loads(head.pop("learned"))})
        assert "detector" in old[-1] and "learned" not in {**head}
    resumed = ServiceWatch([_rule()])
    assert resumed.restore(_stored(tmp_path, old)) == []
    probabilities.clear()
    assert _feed(resumed, 300, 400) == expected
    assert probabilities == expected_p
    assert sorted(resumed.take_changes()[0], key=str) == sorted(today.take_changes()[0], key=str)  # today's form


def test_pending_groups_are_counted_and_their_checkpoints_not_rewritten(tmp_path: Path, built: list[str]) -> None:
    items = _stored(tmp_path, _checkpoints(3))
    watch = ServiceWatch([_rule()])
    assert watch.restore(items) == []
    assert watch.status() == [{"name": "svc", "groups": 3, "failed": None}]
    assert watch.groups() == [{"service": "s0"}, {"service": "s1"}, {"service": "s2"}]
    assert not watch.has_changes() and watch.take_changes() == ([], [])  # nothing learned: nothing to rewrite
    watch.observe(_labels("rps", "s1"), 60.0 * 60, 2.0)
    changed, gone = watch.take_changes()
    assert [c["group"] for c in changed] == [["s1"]] and gone == [] and built == ["s1"]
    assert watch.groups() == [{"service": "s0"}, {"service": "s2"}, {"service": "s1"}]  # s1 the most recent


def test_pending_groups_respect_max_groups_and_are_evicted_unbuilt(built: list[str]) -> None:
    watch = ServiceWatch([_rule()], max_groups=3)
    assert watch.restore(_checkpoints(5)) == []
    assert watch.groups() == [{"service": f"s{k}"} for k in (2, 3, 4)]  # the first restored are the least recent
    changed, gone = watch.take_changes()  # the dropped ones' checkpoints are to be deleted
    assert changed == [] and sorted(gone) == [[["__service_rule__", "svc"], ["__group_0__", f"s{k}"]] for k in (0, 1)]
    watch.observe(_labels("rps", "s2"), 60.0 * 60, 1.0)  # s2 is built and becomes the most recent
    watch.observe(_labels("rps", "new"), 60.0 * 60, 1.0)  # a new group evicts the least recent: s3, never built
    assert watch.groups() == [{"service": "s4"}, {"service": "s2"}, {"service": "new"}] and built == ["s2"]
    changed, gone = watch.take_changes()
    assert sorted(c["group"][0] for c in changed) == ["new", "s2"]
    assert gone == [[["__service_rule__", "svc"], ["__group_0__", "s3"]]]
    assert not watch.warm() and built == ["s2", "s4"]


@pytest.mark.parametrize("contain_errors", [True, False])
def test_a_corrupt_pending_checkpoint_is_logged_at_first_use_and_the_group_starts_afresh(
        contain_errors: bool, caplog: pytest.LogCaptureFixture) -> None:
    items = _checkpoints(3)
    items[0]["learned"] = items[0]["learned"][:100]  # cut short
    items[1]["learned"] = orjson.dumps({**orjson.loads(items[1]["learned"]), "detector": {"config": 1}}).decode()
    unreadable = {**items[2], "group": ["s2", "extra"]}  # more values than group_by: left out at once
    watch = ServiceWatch([_rule()], contain_errors=contain_errors)
    fresh = ServiceWatch([_rule()])
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops.detection"):
        assert watch.restore(items[:2] + [unreadable]) == [unreadable]
        assert len(caplog.messages) == 1 and "not restored" in caplog.messages[0]
        caplog.clear()
        assert len(watch) == 2  # read at first use only
        for i in range(60):
            for k in (0, 1):
                for m in ("rps", "latency_ms"):
                    labels = _labels(m, f"s{k}")
                    assert watch.observe(labels, 60.0 * i, 5.0 + i % 3) == fresh.observe(labels, 60.0 * i, 5.0 + i % 3)
    assert len(caplog.messages) == 2 and all("not restored" in m for m in caplog.messages)
    assert watch.status() == [{"name": "svc", "groups": 2, "failed": None}]  # the rule is not stopped
    changed, gone = watch.take_changes()  # the bad checkpoints are overwritten by what was learned since
    assert gone == [] and sorted(changed, key=str) == sorted(fresh.take_changes()[0], key=str)


def test_a_checkpoint_that_does_not_load_when_warmed_is_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    items = _checkpoints(2)
    items[1]["learned"] = "{"
    watch = ServiceWatch([_rule()])
    watch.restore(items)
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops.detection"):
        assert not watch.warm()
    assert [m for m in caplog.messages if "not restored" in m] and watch.groups() == [{"service": "s0"}]
    assert watch.take_changes() == ([], [[["__service_rule__", "svc"], ["__group_0__", "s1"]]])  # deleted


def test_warming_builds_the_most_recently_updated_first_and_changes_nothing_else(
        tmp_path: Path, built: list[str]) -> None:
    items = _stored(tmp_path, _checkpoints(4))
    watch = ServiceWatch([_rule()])
    assert watch.restore(items) == []
    assert watch.warm(limit=2) and built == ["s3", "s2"]
    assert watch.groups() == [{"service": f"s{k}"} for k in range(4)]  # each keeps its place
    assert watch.take_changes() == ([], [])  # nothing learned: no checkpoint to rewrite
    assert not watch.warm() and built == ["s3", "s2", "s1", "s0"]
    assert not watch.warm() and built == ["s3", "s2", "s1", "s0"]  # nothing left to build


def test_a_rule_change_keeps_the_pending_groups_of_unchanged_rules(built: list[str]) -> None:
    before = ServiceWatch([_rule()])
    before.restore(_checkpoints(2))
    after = ServiceWatch([_rule(), ServiceRule("other", '{job="db"}')])
    after.adopt(before)
    assert after.status()[0] == {"name": "svc", "groups": 2, "failed": None}
    assert after.take_changes() == ([], []) and built == []
    after.observe(_labels("rps", "s1"), 60.0 * 60, 3.0)
    assert built == ["s1"]
    assert not after.warm() and built == ["s1", "s0"]  # s0, adopted pending, is warmed by the new watch

    redefined = ServiceWatch([ServiceRule(**{**RULE, "bucket": 30.0})])  # type: ignore[arg-type]
    redefined.adopt(_pending_watch())  # their rule redefined: the pending groups are forgotten
    assert len(redefined) == 0 and sorted(redefined.take_changes()[1]) == [
        [["__service_rule__", "svc"], ["__group_0__", f"s{k}"]] for k in (0, 1)]


def _pending_watch() -> ServiceWatch:
    watch = ServiceWatch([_rule()])
    watch.restore(_checkpoints(2))
    return watch


def test_the_pipeline_tick_warms_restored_groups_the_most_recently_checkpointed_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[str]) -> None:
    monkeypatch.setattr(pipeline_module, "WARM_SLICE_S", 0.0)  # one group a slice under the lock
    stores = AiopsStores(open_database(f"sqlite:///{tmp_path / 'p.db'}"))
    Pipeline(stores, mine_logs=False).set_config("service_rules", [RULE])
    items = _checkpoints(4)
    save_first_newest(stores, tmp_path / "p.db", items)  # s0 checkpointed last, s3 first
    saved = stores.detector_state.load()

    pipeline = Pipeline(stores, mine_logs=False)
    pipeline.load()
    assert built == []
    assert [r["groups"] for r in pipeline.detection_status()["service_rules"]] == [4]
    assert pipeline.warm_detectors(budget_s=0.0) and built == ["s0"]  # one slice
    for _ in range(3):  # a slice at least a tick
        pipeline.tick()
    assert built == ["s0", "s1", "s2", "s3"] and not pipeline.warm_detectors()
    assert stores.detector_state.load() == saved  # nothing rewritten
