"""Alerts that fire until an end their sender keeps pushing forward (Alertmanager's API).

Prometheus posts each firing alert again every ``--rules.alert.resend-delay`` with ``endsAt`` a few
evaluation intervals ahead; when the alert stops, it posts it with ``endsAt`` in the past. A sender
that dies or is cut off posts nothing more, so, as Alertmanager does, an alert whose end passes
without a new post resolves at that end. ``AlertExpiry`` keeps the latest end of every firing alert
of the pipeline's leader (a few per firing rule and series) and hands back the resolutions that are
due. An alert is its labels (its fingerprint), as in Alertmanager: the replicas of an HA Prometheus
pair post it each with its own ``startsAt``, and it fires until the later of their ends (one replica
that dies does not resolve it while the other posts it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from opsloop.core.signals import Signal

__all__ = ["AlertExpiry"]


class AlertExpiry:
    """The firing alerts that resolve at their ``expires_at`` unless posted again.

    Args:
        restore_grace_s: an alert restored from the store (at a start, or by a new leader) fires at
            least this long from then, so that its sender has time to post it again.
    """

    def __init__(self, restore_grace_s: float = 300.0) -> None:
        self.restore_grace_s = restore_grace_s
        self._due: dict[str, tuple[float, Signal]] = {}  # fingerprint -> (end, alert)

    def __len__(self) -> int:
        return len(self._due)

    def note(self, signals: Iterable[Signal]) -> None:
        """Take the latest posts: a firing alert's end moves to its ``expires_at``; a resolved one is done."""
        for sig in signals:
            key = sig.fingerprint()
            end = sig.evidence.get("expires_at")
            if sig.status == "firing" and isinstance(end, int | float):
                self._push(key, float(end), sig)
            else:
                self._due.pop(key, None)

    def _push(self, key: str, end: float, sig: Signal) -> None:
        """A firing post of alert ``key``: its end is the later of this one and the one it has (another
        sender's, as Alertmanager merges them); its first post stays the one resolved."""
        due = self._due.get(key)
        self._due[key] = (end, sig) if due is None else (max(end, due[0]), due[1])

    def end_of(self, fingerprint: str) -> float | None:
        """The current end of the firing alert ``fingerprint`` (its latest post's ``endsAt``, or another
        sender's later one; the store keeps the first post's), or ``None`` when not tracked."""
        due = self._due.get(fingerprint)
        return due[0] if due is not None else None

    def restore(self, alerts: Iterable[Signal], now: float) -> None:
        """Take the firing alerts stored by an earlier leader (``SqlSignalStore.firing_alerts``)."""
        for sig in alerts:
            end = sig.evidence.get("expires_at")
            if sig.status == "firing" and isinstance(end, int | float):
                self._push(sig.fingerprint(), max(float(end), now + self.restore_grace_s), sig)

    def expired(self, now: float) -> list[Signal]:
        """The resolutions of the alerts whose end is past (each once), resolved at that end."""
        done = [(key, end, sig) for key, (end, sig) in self._due.items() if end <= now]
        out = []
        for key, end, sig in done:
            del self._due[key]
            evidence = {k: v for k, v in sig.evidence.items() if k != "expires_at"}
            out.append(replace(sig, status="resolved", evidence={**evidence, "endsAt": end, "expired": True}))
        return out
