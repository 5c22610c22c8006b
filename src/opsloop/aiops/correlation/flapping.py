"""Flapping: an alert that keeps firing and resolving.

A fingerprint flaps when it changed state at least ``threshold`` times within ``window_s`` (event
time). While it flaps, its incident is not resolved and re-opened at every flip (and so does not
page at every flip): it stays open until the alert has been quiet for a full window.
"""

from __future__ import annotations

from collections import deque

__all__ = ["FlapDetector"]


class FlapDetector:
    def __init__(self, window_s: float = 600.0, threshold: int = 4, max_fingerprints: int = 100_000) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self.max_fingerprints = max_fingerprints
        self._last: dict[str, str] = {}
        self._flips: dict[str, deque[float]] = {}

    def record(self, fp: str, status: str, t: float) -> bool:
        """Account for a state report; returns whether the fingerprint is flapping now."""
        prev = self._last.pop(fp, None)  # re-inserted last: the fingerprints forgot first are the quietest
        self._last[fp] = status
        if prev is not None and prev != status:
            flips = self._flips.setdefault(fp, deque())
            flips.append(t)
        if len(self._last) > self.max_fingerprints:  # the least recently reported tenth
            for key in list(self._last)[: self.max_fingerprints // 10]:
                self._last.pop(key, None)
                self._flips.pop(key, None)
        return self.is_flapping(fp, t)

    def is_flapping(self, fp: str, t: float) -> bool:
        flips = self._flips.get(fp)
        if not flips:
            return False
        while flips and flips[0] < t - self.window_s:
            flips.popleft()
        return len(flips) >= self.threshold

    def flapping(self, t: float) -> list[str]:
        return [fp for fp in list(self._flips) if self.is_flapping(fp, t)]
