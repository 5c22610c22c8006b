"""The server's schedule sends a model's live performance when it changed — a breach over new or
corrected labels, or its recovery — and a breach still firing over the labels already checked only once,
whichever process leads the schedule (a new leader, a restarted server). Run on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.mlops.monitoring.traffic import add_labels, add_scored, performance_states, reference_frame
from tests.mlops.server_monitoring.leader import Leader

from opsloop.core.signals import SignalKind
from opsloop.runtime import Runtime

BOUND = {"performance": {"min_accuracy": 0.8, "min_labels": 10}}
HALF_RIGHT = [i % 2 for i in range(40)]  # predictions; labels all 1: accuracy 0.5


def _performance(leader: Leader) -> dict[str, str]:
    """One scheduled round; the performance it sent, by metric."""
    return performance_states(leader.round())


def test_a_new_leader_sends_no_breach_still_firing_over_checked_labels_only_what_changed(runtime: Runtime) -> None:
    first = Leader(runtime)
    first.monitor("m").set_reference(reference_frame(("a",)), policies=BOUND)
    add_scored(first.store, HALF_RIGHT)
    add_labels(first.store, [1] * 40)
    assert _performance(first) == {"accuracy": "firing"}
    assert _performance(first) == {}

    second = Leader(runtime)  # the first leader exited, or the server restarted
    assert _performance(second) == {}  # the same labels: the breach's incident knows it already

    add_scored(second.store, [0] * 10, start=40)
    add_labels(second.store, [1] * 10, start=40)  # new labels, still a breach: sent with its new value
    assert _performance(second) == {"accuracy": "firing"}
    add_labels(second.store, [*HALF_RIGHT, *[0] * 10])  # corrected: every prediction was right
    assert _performance(second) == {"accuracy": "resolved"}
    assert _performance(Leader(runtime)) == {}
    assert len(second.store.list_signals(model="m", kind=SignalKind.MODEL_PERFORMANCE)) == 3


def test_a_new_reference_with_a_looser_bound_resolves_the_breach_without_waiting_for_labels(
        runtime: Runtime) -> None:
    leader = Leader(runtime)
    leader.monitor("m").set_reference(reference_frame(("a",)), policies=BOUND)
    add_scored(leader.store, HALF_RIGHT)
    add_labels(leader.store, [1] * 40)
    assert _performance(leader) == {"accuracy": "firing"}

    leader.monitor("m").set_reference(reference_frame(("a",)), policies={"performance": {"min_accuracy": 0.4}})
    assert _performance(leader) == {"accuracy": "resolved"}
    assert _performance(leader) == {}
