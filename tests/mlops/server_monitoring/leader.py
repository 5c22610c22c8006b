"""The server's monitoring in the process that leads the schedule, keeping what it sends to AIOps."""

from __future__ import annotations

from opsloop.core.signals import Signal
from opsloop.runtime import Runtime
from opsloop.server.monitoring import ServerMonitoring


class Leader(ServerMonitoring):
    """A ``ServerMonitoring`` whose signals for the AIOps pipeline are kept in ``sent``."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, runtime.settings.monitoring)
        self.sent: list[Signal] = []

    def open_incidents(self, signals: list[Signal]) -> None:
        self.sent.extend(signals)

    def round(self) -> list[Signal]:
        """One scheduled round (it checks model ``m``); the signals it sent."""
        self.sent.clear()
        assert self.check_all() == ["m"]
        return list(self.sent)
