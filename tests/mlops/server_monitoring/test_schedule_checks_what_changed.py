"""The server's schedule checks a model's drift when something a check compares changed — a new sample,
or a new reference — and only then, whichever process leads the schedule. A leader that takes over (the
previous one exited, or the server restarted) does not send again a drift that is still firing over the
samples already checked; what changes is still sent. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.mlops.monitoring.traffic import add_traffic, drift_states, reference_frame
from tests.mlops.server_monitoring.leader import Leader

from opsloop.core.signals import SignalKind
from opsloop.runtime import Runtime
from opsloop.server.monitoring import ServerMonitoring

WINDOW = {"drift": {"window": 200}}  # each check compares the newest 200 samples


def _drift(leader: Leader) -> dict[str, str]:
    """One scheduled round; the drift it sent, by feature."""
    return drift_states(s for s in leader.round() if s.kind == SignalKind.MODEL_DRIFT)


def _stored(leader: ServerMonitoring) -> int:
    return len(leader.store.list_signals(model="m", kind=SignalKind.MODEL_DRIFT))


def test_a_new_leader_sends_no_drift_still_firing_over_checked_samples_only_what_changed(runtime: Runtime) -> None:
    first = Leader(runtime)
    first.monitor("m").set_reference(reference_frame(("a", "b")), policies=WINDOW)
    add_traffic(first.store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert _drift(first) == {"b": "firing"}
    assert _drift(first) == {}

    second = Leader(runtime)  # the first leader exited, or the server restarted
    assert _drift(second) == {}  # 'b' still drifts over the same samples: its incident knows it already
    assert _stored(second) == 1

    add_traffic(second.store, 200, {"a": 4.0, "b": 4.0}, seed=3)  # new samples: 'a' drifts too now
    assert _drift(second) == {"a": "firing", "b": "firing"}
    add_traffic(second.store, 200, {"a": 0.0, "b": 0.0}, seed=4)
    assert _drift(second) == {"a": "resolved", "b": "resolved"}
    assert _drift(Leader(runtime)) == {}
    assert _stored(second) == 5


def test_a_new_reference_is_checked_without_waiting_for_a_new_sample(runtime: Runtime) -> None:
    leader = Leader(runtime)
    monitor = leader.monitor("m")
    monitor.set_reference(reference_frame(("a", "b")), policies=WINDOW)
    add_traffic(leader.store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert _drift(leader) == {"b": "firing"}

    monitor.set_reference(reference_frame(("a",)), policies=WINDOW)  # the new training data has no 'b'
    assert _drift(leader) == {"b": "resolved"}
    [resolved] = leader.sent
    assert resolved.evidence["reason"] == "not_in_reference"
    assert _drift(leader) == {}
