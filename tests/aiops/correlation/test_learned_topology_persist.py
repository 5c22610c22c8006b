"""Links learned from co-occurrence are saved on the pipeline's tick (only when something was learned
since) and come back after a restart."""

from __future__ import annotations

from pathlib import Path

from opsloop.aiops.pipeline import Pipeline
from opsloop.core.signals import Signal
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


def _pipeline(tmp_path: Path) -> tuple[Pipeline, object]:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))
    pipeline = Pipeline(runtime.aiops)
    pipeline.load()
    return pipeline, runtime


def test_learned_links_are_saved_when_learned_and_restored(tmp_path: Path) -> None:
    pipeline, runtime = _pipeline(tmp_path)
    writes = []
    set_config = pipeline.stores.ops.set_config

    def counting(key: str, value: object, **kw: object) -> None:
        writes.append(key)
        set_config(key, value, **kw)

    pipeline.stores.ops.set_config = counting  # type: ignore[method-assign]
    try:
        t0 = 1_800_000_000.0
        for episode in range(4):  # api and db fail together, an hour apart each time
            t = t0 + episode * 3600
            pipeline.ingest([Signal(time=t, source="am", service=svc, labels={"alertname": f"Down{episode}",
                                                                              "service": svc})
                             for svc in ("api", "db")], now=t)
        pipeline.tick()
        assert writes.count("learned_topology") == 1
        pipeline.tick()
        pipeline.tick()
        assert writes.count("learned_topology") == 1  # nothing learned since: no rewrite
    finally:
        runtime.close()  # type: ignore[attr-defined]
    again, runtime = _pipeline(tmp_path)
    try:
        assert "db" in again.engine.topology.learned_partners("api")
        assert again.engine.topology.learned_strength("api", "db") > 0
    finally:
        runtime.close()  # type: ignore[attr-defined]
