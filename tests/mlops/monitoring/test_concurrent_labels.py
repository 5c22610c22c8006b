"""Label posts for the same request ids at the same time (a client retrying, two labelling jobs) all
succeed and leave one label per request row: the whole of one post, the last written. Within one post
a row labelled twice keeps the last value. Run on every backend (PostgreSQL is where they raced)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from opsloop.mlops.monitoring import GroundTruth, PredictionSample
from opsloop.mlops.monitoring.store import MonitoringStore

POSTERS = 6
REQUESTS = 20


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    return monitoring_store


def _labels(value: int) -> list[GroundTruth]:
    """A label for each request's row 0, each first posted wrong (-1) and corrected in the same post."""
    wrong = [GroundTruth("m", f"r{i}", 0, -1) for i in range(REQUESTS)]
    return wrong + [GroundTruth("m", f"r{i}", 0, value) for i in reversed(range(REQUESTS))]


def _post_together(store: MonitoringStore, barrier: threading.Barrier) -> Callable[[int], int]:
    """A poster of ``_labels(value)`` that starts when all the others are ready too."""

    def post(value: int) -> int:
        barrier.wait(timeout=30)
        return store.add_labels(_labels(value))

    return post


def test_concurrent_label_posts_for_the_same_requests_leave_one_post_whole(store: MonitoringStore) -> None:
    store.add_samples([PredictionSample("m", f"r{i}", 0, float(i), {"x": 1.0}, 0) for i in range(REQUESTS)])
    for attempt in range(3):  # the first posts insert the labels, the later ones replace them
        values = [attempt * POSTERS + p for p in range(POSTERS)]
        with ThreadPoolExecutor(POSTERS) as pool:
            matched = list(pool.map(_post_together(store, threading.Barrier(POSTERS)), values))  # re-raises

        assert matched == [2 * REQUESTS] * POSTERS  # every label posted matches its sample
        labelled = store.list_samples("m", labelled_only=True)
        assert sorted(s.request_id for s in labelled) == sorted(f"r{i}" for i in range(REQUESTS))
        assert len({s.label for s in labelled}) == 1  # one post's labels, not a mix
        assert labelled[0].label in values
