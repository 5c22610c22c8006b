"""For the lazy-restore tests: recording what detectors score (to compare a restored run with an
uninterrupted one), and storing checkpoints in a known order of age."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from opsloop.storage.sql.detector_state import series_key


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


def save_first_newest(stores: Any, db_path: Path, items: list[dict[str, Any]]) -> None:
    """Store the checkpoints ``items`` in the SQLite store at ``db_path`` with the first checkpointed
    last and the last first (``updated_at`` 1000, 999, …)."""
    stores.detector_state.save(items)
    with sqlite3.connect(db_path) as conn:
        conn.executemany("UPDATE aiops_detector_state SET updated_at = ? WHERE key = ?",
                         [(1000.0 - k, series_key(item["labels"])) for k, item in enumerate(items)])
    conn.close()
