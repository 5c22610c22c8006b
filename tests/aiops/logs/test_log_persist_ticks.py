"""The pipeline's periodic log persistence writes the miner's snapshot only when something was mined since."""

from __future__ import annotations

import time
from pathlib import Path

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Signal, SignalKind
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


class CountingStore:
    """The SQL template store, counting snapshot writes."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.snapshots = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def save_snapshot(self, data: dict) -> None:
        self.snapshots += 1
        self.inner.save_snapshot(data)  # type: ignore[attr-defined]


def test_idle_ticks_write_no_snapshot(tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))
    try:
        pipeline = Pipeline(runtime.aiops)
        store = pipeline.template_store = CountingStore(runtime.log_templates)
        pipeline.load()
        log = Signal(time=time.time(), source="otlp", kind=SignalKind.LOG, service="auth", text="user 7 logged in")
        pipeline.ingest([log])
        pipeline.persist_logs()
        assert store.snapshots == 1
        pipeline.persist_logs()
        pipeline.persist_logs()
        assert store.snapshots == 1  # nothing mined since: no rewrite
        pipeline.ingest([Signal(time=time.time(), source="otlp", kind=SignalKind.LOG, service="auth",
                                text="user 8 logged in")])
        pipeline.persist_logs()
        assert store.snapshots == 2
        assert store.inner.load_snapshot()["stats"]["lines"] == 2  # type: ignore[attr-defined]
    finally:
        runtime.close()


def test_the_snapshot_leaves_the_templates_to_the_store_and_a_restart_keeps_their_ids(tmp_path: Path) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={})
    runtime = build_runtime(settings)
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.template_store = runtime.log_templates
        pipeline.load()
        lines = [f"user {i} logged in from 10.0.0.{i}" for i in range(5)] + ["disk /dev/sda1 is 91% full"]
        pipeline.ingest([Signal(time=time.time(), source="otlp", kind=SignalKind.LOG, service="auth", text=t)
                         for t in lines])
        pipeline.persist_logs()
        snapshot = runtime.log_templates.load_snapshot()  # type: ignore[attr-defined]
        assert "templates" not in snapshot  # a few KB whatever the number of templates
        before = {t.text: t.id for t in runtime.log_templates.list()}  # type: ignore[attr-defined]
        assert len(before) == 2
    finally:
        runtime.close()
    runtime = build_runtime(settings)
    try:
        pipeline = Pipeline(runtime.aiops)
        pipeline.template_store = runtime.log_templates
        pipeline.load()
        miner = pipeline._logs().miner
        match = miner.add("user 99 logged in from 10.0.0.99", service="auth")
        assert match.change == "none" and match.template_id == before[miner.template(match.template_id).text]
        new = miner.add("cache warmed in 12 ms", service="auth")
        assert new.change == "created" and new.template_id not in before.values()
    finally:
        runtime.close()
