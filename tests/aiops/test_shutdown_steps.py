"""At shutdown the pipeline ticks, stores the span counts of the minute under way and checkpoints its
detectors; a step that fails is logged and the others still run."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings


def test_a_failing_shutdown_step_is_logged_and_the_others_still_run(tmp_path, caplog) -> None:  # noqa: ANN001
    ran: list[str] = []
    with caplog.at_level(logging.ERROR, logger="opsloop.aiops"):
        with TestClient(create_app(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))) as c:
            pipeline = c.app.state.aiops

            def flush_span_counts() -> None:
                raise OSError("disk full")

            checkpoint = pipeline.checkpoint_detectors

            def checkpoint_detectors(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                ran.append("checkpoint_detectors")
                return checkpoint(*args, **kwargs)

            pipeline.flush_span_counts = flush_span_counts
            pipeline.checkpoint_detectors = checkpoint_detectors
    assert ran == ["checkpoint_detectors"]
    failed = [r for r in caplog.records if "shutdown step flush_span_counts failed" in r.getMessage()]
    assert failed and "disk full" in (failed[0].exc_text or "")
