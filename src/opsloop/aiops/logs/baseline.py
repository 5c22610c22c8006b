"""A seasonal baseline for counts per time bucket: one exponentially weighted mean per season slot."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SeasonalBaseline"]


@dataclass(slots=True)
class _Slot:
    n: int = 0
    mean: float = 0.0
    var: float = 0.0


class SeasonalBaseline:
    """Expected count of one series (a template's lines, a service's errors) per bucket.

    Each bucket falls in a season slot (by default the hour of the week); a slot keeps an
    exponentially weighted mean and variance of the counts seen in it. Until a slot has
    ``min_history`` observations, the series' overall (non-seasonal) estimate stands in.

    Args:
        slot_seconds: width of a season slot (3600: hour).
        slots: slots per season (168: a week of hours).
        alpha: weight of the newest observation.
        min_history: observations a slot needs before it is trusted.
    """

    __slots__ = ("slot_seconds", "slots", "alpha", "min_history", "_slots", "_overall")

    def __init__(
        self, slot_seconds: int = 3600, slots: int = 168, alpha: float = 0.2, min_history: int = 3
    ) -> None:
        self.slot_seconds = slot_seconds
        self.slots = slots
        self.alpha = alpha
        self.min_history = min_history
        self._slots: dict[int, _Slot] = {}
        self._overall = _Slot()

    def slot_of(self, time: float) -> int:
        return int(time // self.slot_seconds) % self.slots

    def expected(self, time: float) -> tuple[float, float, int]:
        """Mean, standard deviation and history length for a bucket starting at ``time``."""
        slot = self._slots.get(self.slot_of(time))
        if slot is None or slot.n < self.min_history:
            slot = self._overall
        return slot.mean, math.sqrt(max(slot.var, 0.0)), slot.n

    def update(self, time: float, value: float) -> None:
        key = self.slot_of(time)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        for target in (slot, self._overall):
            _ewm(target, value, self.alpha)

    def absorb(self, other: SeasonalBaseline) -> None:
        """Add ``other``'s expected counts to this one (two series that became one)."""
        for key, theirs in other._slots.items():
            mine = self._slots.setdefault(key, _Slot())
            _add(mine, theirs)
        _add(self._overall, other._overall)

    @property
    def history(self) -> int:
        return self._overall.n


def _add(mine: _Slot, theirs: _Slot) -> None:
    mine.mean += theirs.mean
    mine.var += theirs.var
    mine.n = max(mine.n, theirs.n)


def _ewm(slot: _Slot, value: float, alpha: float) -> None:
    if slot.n == 0:
        slot.mean, slot.var = value, 0.0
    else:
        a = max(alpha, 1.0 / (slot.n + 1))  # plain average while the history is short
        diff = value - slot.mean
        slot.mean += a * diff
        slot.var = (1 - a) * (slot.var + a * diff * diff)
    slot.n += 1
