"""Two servers on one PostgreSQL database (each with its own data dir, as on two hosts) run one
monitoring schedule between them: the one holding the schedule's advisory lock. When it shuts down,
the other takes the schedule over at its next round."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import wait_until

from opsloop.mlops.monitoring.schedule_lock import SCHEDULE_LOCK_KEY, AdvisoryScheduleLock
from opsloop.server.app import create_app
from opsloop.server.monitoring import ServerMonitoring
from opsloop.settings import load_settings


class _Rounds:
    """What each schedule did: its lock's answers (by lock) and the rounds it ran (by monitoring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: dict[int, list[bool]] = {}
        self.ran: dict[int, int] = {}

    def answered(self, lock: object, got: bool) -> None:
        with self.lock:
            self.answers.setdefault(id(lock), []).append(got)

    def checked(self, monitoring: object) -> None:
        with self.lock:
            self.ran[id(monitoring)] = self.ran.get(id(monitoring), 0) + 1

    def leaders(self) -> set[int]:
        with self.lock:
            return {lock for lock, answers in self.answers.items() if any(answers)}


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> _Rounds:
    seen = _Rounds()
    acquire, check_all = AdvisoryScheduleLock.acquire, ServerMonitoring.check_all

    def acquire_seen(self: AdvisoryScheduleLock) -> bool:
        got = acquire(self)
        if self.key == SCHEDULE_LOCK_KEY:  # not the AIOps leader's lock, which is one too
            seen.answered(self, got)
        return got

    def check_all_seen(self: ServerMonitoring, *args: Any) -> list[str]:
        seen.checked(self)
        return check_all(self, *args)

    monkeypatch.setattr(AdvisoryScheduleLock, "acquire", acquire_seen)
    monkeypatch.setattr(ServerMonitoring, "check_all", check_all_seen)
    return seen


def _app(data_dir: Path, database_url: str) -> TestClient:
    settings = load_settings({"storage": {"data_dir": str(data_dir), "database_url": database_url},
                              "monitoring": {"drift_interval_s": 0.05}}, environ={})
    return TestClient(create_app(settings))


@pytest.mark.postgres
def test_two_servers_on_one_database_run_one_schedule_and_the_other_takes_over(
        postgres_url: str, tmp_path: Path, rounds: _Rounds) -> None:
    with ExitStack() as leader:
        first = leader.enter_context(_app(tmp_path / "a", postgres_url))
        [first_lock] = wait_until(rounds.leaders, timeout=30)
        first_monitoring = id(first.app.state.model_monitoring)  # type: ignore[attr-defined]
        wait_until(lambda: rounds.ran.get(first_monitoring), timeout=30)

        with _app(tmp_path / "b", postgres_url) as second:  # its own data dir: a file lock would not see the first
            second_monitoring = id(second.app.state.model_monitoring)  # type: ignore[attr-defined]
            # the second server's schedule asks at every round and is told no
            [second_lock] = wait_until(lambda: [k for k, a in rounds.answers.items()
                                                if k != first_lock and len(a) >= 5], timeout=30)
            assert rounds.leaders() == {first_lock}
            assert second_monitoring not in rounds.ran

            leader.close()  # the leader shuts down and lets go
            wait_until(lambda: rounds.ran.get(second_monitoring), timeout=30)
            assert rounds.leaders() == {first_lock, second_lock}
