"""Which of a server's worker processes runs the monitoring schedule.

``opsloop server --workers N`` starts N processes with the same app; each would run its own drift
and performance checks and emit every signal N times. The one that holds an exclusive ``flock`` on a
file in the data dir runs them; the others ask again at each round, so when the holder exits (the
system drops its lock with it, even on a crash) another worker takes over. Servers on other hosts
sharing one database each run their own schedule; where file locks are not available (Windows) or
the file cannot be opened, every worker runs it, as before.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["ScheduleLock"]

log = logging.getLogger("opsloop.monitoring")


class ScheduleLock:
    """An exclusive, non-blocking lock on ``path``, held from the first ``acquire`` that gets it until ``release``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Whether this process runs the schedule: it holds the lock now (or no lock can be taken here)."""
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock on this platform: every worker checks, as before
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by runbook programs
        except OSError as exc:
            log.warning("cannot open %s (%s): this worker runs the monitoring schedule too", self.path, exc)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another worker holds it
            os.close(fd)
            return False
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for whoever looks
        log.info("worker %d runs the monitoring schedule (lock %s)", os.getpid(), self.path)
        return True

    def release(self) -> None:
        """Let another worker take the schedule (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
