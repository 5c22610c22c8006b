"""Ending the SDK's open runs when the process is sent SIGTERM (``kill``, Kubernetes, SLURM, systemd).

Python's default for SIGTERM is to die at once, running neither ``finally`` blocks nor ``atexit`` hooks: the
queued metric points were lost and the run stayed RUNNING. While a run is open, and only when the process has
no SIGTERM handler of its own (the default disposition) and the run was started on the main thread, the SDK
installs one: it sends the queued points and ends every open run KILLED (waiting at most ``PATIENCE``
seconds), then restores the default and sends the signal again, so the process ends as it would have (killed
by signal 15). The handler is removed when the last open run ends; a handler the program installs later
replaces it (and when that one calls it as the handler it replaced, it does nothing: the program decided). In a forked child (a data-loader worker) it ends nothing: the runs are its parent's.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

__all__ = ["PATIENCE", "install", "running_in", "uninstall"]

PATIENCE = 20.0  # seconds given to ending the runs (waiting for the interrupted thread included): well within
# the 30 s Kubernetes and SLURM leave before SIGKILL
_RETRY_S = 0.01


def running_in(frame: FrameType | None, folder: str) -> bool:
    """Whether ``frame`` or one of its callers runs code from ``folder``."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(folder):
            return True
        frame = frame.f_back
    return False


class _Handler:
    """The SIGTERM handler of process ``pid``: end the open runs (``end_runs``), then die of the signal.

    ``busy(frame)`` says whether the interrupted main thread holds a lock ending the runs needs (inside a
    queue's critical section, or a call to the tracking backend): the ending then waits for it to leave.
    """

    def __init__(self, end_runs: Callable[[], None], busy: Callable[[FrameType | None], bool]) -> None:
        self.end_runs, self.busy = end_runs, busy
        self.pid = os.getpid()
        self._deadline: float | None = None
        self._ending = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self._ending:
            return  # sent again while the runs are being ended: this handler dies of it once they are
        if not _is_current(self):
            # called by a handler the program installed since, as the one it replaced (PyTorch Lightning
            # chains it so): the program handles SIGTERM now, its exit ends the runs
            return
        if os.getpid() == self.pid:
            now = time.monotonic()
            self._deadline = self._deadline or now + PATIENCE  # one budget for waiting and ending
            if now < self._deadline and self.busy(frame):
                # the signal is sent again in a moment, when the thread is likely out of that call
                threading.Timer(_RETRY_S, os.kill, (self.pid, signum)).start()
                return
            self._ending = True
            worker = threading.Thread(target=self.end_runs, name="opsloop-sigterm", daemon=True)
            worker.start()
            worker.join(max(1.0, self._deadline - now))
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _is_current(handler: _Handler) -> bool:
    return signal.getsignal(signal.SIGTERM) is handler


_installed: _Handler | None = None


def install(end_runs: Callable[[], None], busy: Callable[[FrameType | None], bool]) -> None:
    """Make SIGTERM call ``end_runs`` before the process dies, if SIGTERM has its default disposition (or
    the handler a parent process installed before forking this one) and this is the main thread."""
    global _installed
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _Handler) and current.pid == os.getpid():
        return  # installed for an earlier run still open
    if current is not signal.SIG_DFL and not isinstance(current, _Handler):
        return  # the program's own handler (or SIG_IGN): the program decides
    _installed = _Handler(end_runs, busy)
    signal.signal(signal.SIGTERM, _installed)


def uninstall() -> None:
    """Give SIGTERM back its default once no run is open (when the handler is still the SDK's)."""
    global _installed
    if _installed is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _installed:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _installed = None
