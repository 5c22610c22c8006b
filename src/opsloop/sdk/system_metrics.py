"""Optional sampling of host metrics (CPU, memory, disk, network) into a run, with MLflow's names."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["SystemMetricsSampler", "sample_system_metrics"]

_MB = 1024 * 1024


def sample_system_metrics(psutil: Any, disk_path: str = "/", net_base: Any = None) -> dict[str, float]:
    """One reading of the host's metrics, keyed as MLflow's system-metrics monitor names them."""
    memory = psutil.virtual_memory()
    out = {
        "system/cpu_utilization_percentage": float(psutil.cpu_percent(interval=None)),
        "system/system_memory_usage_megabytes": (memory.total - memory.available) / _MB,
        "system/system_memory_usage_percentage": float(memory.percent),
    }
    try:
        disk = psutil.disk_usage(disk_path)
        out["system/disk_usage_percentage"] = float(disk.percent)
        out["system/disk_usage_megabytes"] = disk.used / _MB
        out["system/disk_available_megabytes"] = disk.free / _MB
    except OSError:
        pass
    net = psutil.net_io_counters()
    if net is not None and net_base is not None:
        out["system/network_receive_megabytes"] = (net.bytes_recv - net_base.bytes_recv) / _MB
        out["system/network_transmit_megabytes"] = (net.bytes_sent - net_base.bytes_sent) / _MB
    return out


class SystemMetricsSampler:
    """A daemon thread logging host metrics every ``interval`` seconds, and once more at ``stop``.

    Args:
        log: called with ``(metrics, step)``; the run's ``log_metrics``.
        interval: seconds between samples (MLflow's default is 10).
    """

    def __init__(self, log: Callable[[dict[str, float], int], None], *, interval: float = 10.0) -> None:
        import psutil

        self._psutil = psutil
        self._log = log
        self._interval = interval
        self._stop = threading.Event()
        self._step = 0
        self.error: Exception | None = None
        self._lock = threading.Lock()
        psutil.cpu_percent(interval=None)  # primes the CPU counter: the first real reading covers the interval
        self._net_base = psutil.net_io_counters()
        self._thread = threading.Thread(target=self._run, name="opsloop-system-metrics", daemon=True)

    def start(self) -> SystemMetricsSampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        """Take and log one reading now."""
        with self._lock:
            values = sample_system_metrics(self._psutil, net_base=self._net_base)
            self._log(values, self._step)
            self._step += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - kept and raised by stop(), so the run reports it
                self.error = exc
                return

    def stop(self) -> None:
        """Stop sampling after one final reading (so even a short run has a sample)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.error is not None:
            raise self.error
        self.sample()


