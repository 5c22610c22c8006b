"""Recording what detectors score, for tests that compare a restored run with an uninterrupted one."""

from __future__ import annotations

from typing import Any

import pytest


def record_scores(monkeypatch: pytest.MonkeyPatch, detector: type) -> list[float]:
    """Every probability ``detector`` (a class) scores from now on, in order."""
    seen: list[float] = []
    real = detector.score_one

    def recording(self: Any, x: Any, t: float | None = None) -> float:
        p = real(self, x, t)
        seen.append(p)
        return p

    monkeypatch.setattr(detector, "score_one", recording)
    return seen
