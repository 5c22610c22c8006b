"""The server's schedule checks a model's drift when something a check compares changed — a new sample,
or a new reference — and only then, whichever process leads the schedule. A leader that takes over (the
previous one exited, or the server restarted) does not send again a drift that is still firing over the
samples already checked; what changes is still sent. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.mlops.monitoring.traffic import add_traffic, drift_states, reference_frame

from opsloop.core.signals import Signal, SignalKind
from opsloop.runtime import Runtime, build_runtime
from opsloop.server.monitoring import ServerMonitoring
from opsloop.settings import load_settings

WINDOW = {"drift": {"window": 200}}  # each check compares the newest 200 samples


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    storage = {"data_dir": str(tmp_path)}
    if request.param == "postgres":
        storage["database_url"] = request.getfixturevalue("postgres_url")
    runtime = build_runtime(load_settings({"storage": storage}, environ={}))
    runtime.registry.create_registered_model("m")
    yield runtime
    runtime.close()


class _Leader(ServerMonitoring):
    """The server's monitoring in the process that leads the schedule; keeps what it sends to AIOps."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, runtime.settings.monitoring)
        self.sent: list[Signal] = []

    def open_incidents(self, signals: list[Signal]) -> None:
        self.sent.extend(signals)

    def round(self) -> dict[str, str]:
        """One scheduled round; the drift it sent, by feature."""
        self.sent.clear()
        assert self.check_all() == ["m"]
        return drift_states(s for s in self.sent if s.kind == SignalKind.MODEL_DRIFT)


def _stored(leader: ServerMonitoring) -> int:
    return len(leader.store.list_signals(model="m", kind=SignalKind.MODEL_DRIFT))


def test_a_new_leader_sends_no_drift_still_firing_over_checked_samples_only_what_changed(runtime: Runtime) -> None:
    first = _Leader(runtime)
    first.monitor("m").set_reference(reference_frame(("a", "b")), policies=WINDOW)
    add_traffic(first.store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert first.round() == {"b": "firing"}
    assert first.round() == {}

    second = _Leader(runtime)  # the first leader exited, or the server restarted
    assert second.round() == {}  # 'b' still drifts over the same samples: its incident knows it already
    assert _stored(second) == 1

    add_traffic(second.store, 200, {"a": 4.0, "b": 4.0}, seed=3)  # new samples: 'a' drifts too now
    assert second.round() == {"a": "firing", "b": "firing"}
    add_traffic(second.store, 200, {"a": 0.0, "b": 0.0}, seed=4)
    assert second.round() == {"a": "resolved", "b": "resolved"}
    assert _Leader(runtime).round() == {}
    assert _stored(second) == 5


def test_a_new_reference_is_checked_without_waiting_for_a_new_sample(runtime: Runtime) -> None:
    leader = _Leader(runtime)
    monitor = leader.monitor("m")
    monitor.set_reference(reference_frame(("a", "b")), policies=WINDOW)
    add_traffic(leader.store, 200, {"a": 0.0, "b": 4.0}, seed=2)
    assert leader.round() == {"b": "firing"}

    monitor.set_reference(reference_frame(("a",)), policies=WINDOW)  # the new training data has no 'b'
    assert leader.round() == {"b": "resolved"}
    [resolved] = leader.sent
    assert resolved.evidence["reason"] == "not_in_reference"
    assert leader.round() == {}
