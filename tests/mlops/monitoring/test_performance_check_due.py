"""A model's live performance is due for a scheduled check when the check would send what was not sent
already: a breach over labelled samples other than those of the breach last sent (a new label, a corrected
one, a sample scored before its label came), or a resolution. A breach still firing over the same labels
is sent once, in every process and after a restart: what a check compared is kept with the signals it
stored. Run on every backend."""

from __future__ import annotations

import pytest
from tests.mlops.monitoring.traffic import add_labels, add_scored, performance_states

from opsloop.core.signals import Signal, SignalKind
from opsloop.mlops.monitoring import ModelMonitor, PerformancePolicy, PredictionSampler, ServingMonitor
from opsloop.mlops.monitoring.store import MonitoringStore

POLICY = PerformancePolicy(min_accuracy=0.8, min_labels=10)
HALF_RIGHT = [i % 2 for i in range(40)]  # predictions; labels all 1: accuracy 0.5


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def test_a_serving_monitors_schedule_sends_a_breach_that_did_not_change_once(store: MonitoringStore) -> None:
    sent: list[Signal] = []

    def serving() -> ServingMonitor:  # ``opsloop serve``'s schedule, started again at each call
        monitor = ModelMonitor(store, "m", performance_policy=POLICY)
        monitor.on_signals = sent.extend
        return ServingMonitor(monitor, PredictionSampler(store, "m"), app=None, interval=0)

    running = serving()
    add_scored(store, HALF_RIGHT)
    add_labels(store, [1] * 40)
    running.check_now()
    assert performance_states(sent) == {"accuracy": "firing"}
    running.check_now()
    serving().check_now()  # restarted
    assert len(sent) == 1
    assert len(store.list_signals(model="m", kind=SignalKind.MODEL_PERFORMANCE)) == 1


def test_new_labels_make_a_breach_due_and_its_recovery_is_sent_at_once(store: MonitoringStore) -> None:
    monitor = ModelMonitor(store, "m", performance_policy=POLICY)
    add_scored(store, HALF_RIGHT)
    assert not monitor.performance_due()  # no labels: nothing to send
    add_labels(store, [1] * 40)
    assert monitor.performance_due()
    assert performance_states(monitor.check_performance()[1]) == {"accuracy": "firing"}
    assert not monitor.performance_due()
    assert not ModelMonitor(store, "m", performance_policy=POLICY).performance_due()  # another process
    add_labels(store, [1] * 40)  # the same labels posted again (a client retrying)
    assert not monitor.performance_due()

    add_labels(store, [1], start=40)  # a label before its sample: nothing it labels yet
    assert not monitor.performance_due()
    add_scored(store, [0], start=40)  # the sample came: a new labelled sample
    assert monitor.performance_due()
    report, signals = monitor.check_performance()
    assert performance_states(signals) == {"accuracy": "firing"} and report.labelled == 41
    assert not monitor.performance_due()

    add_labels(store, [*HALF_RIGHT, 0])  # corrected: every prediction was right
    assert monitor.performance_due()
    assert performance_states(monitor.check_performance()[1]) == {"accuracy": "resolved"}
    assert not monitor.performance_due()
    assert monitor.check_performance()[1] == []


def test_a_loosened_bound_sends_the_recovery_without_waiting_for_labels(store: MonitoringStore) -> None:
    add_scored(store, HALF_RIGHT)
    add_labels(store, [1] * 40)
    assert performance_states(ModelMonitor(store, "m", performance_policy=POLICY).check_performance()[1]) == {
        "accuracy": "firing"}
    loosened = ModelMonitor(store, "m", performance_policy=PerformancePolicy(min_accuracy=0.4, min_labels=10))
    assert loosened.performance_due()
    assert performance_states(loosened.check_performance()[1]) == {"accuracy": "resolved"}
    assert not loosened.performance_due()
