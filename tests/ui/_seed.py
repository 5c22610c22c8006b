"""Test data made through the real ``mlflow`` client against a running opsloop server."""

from __future__ import annotations

import math
import struct
import tempfile
import zlib
from pathlib import Path

from tests._environ import restore_environ, saved_environ


def tiny_png(width: int = 24, height: int = 16) -> bytes:
    """A small valid RGB PNG (a gradient), written without image libraries."""
    raw = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 10 % 256, y * 15 % 256, 180))
                   for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_runs(tracking_uri: str, experiment: str = "ui-demo") -> dict[str, str]:
    """Three runs with params, stepped metrics, tags, a dataset input and artifacts; returns name → run id.

    Module fixtures call this, outside the per-test isolation of the mlflow client (tests/conftest.py):
    the experiment it sets (``MLFLOW_EXPERIMENT_ID`` in the environment) is taken back when done, or
    later tests in the process would log into an experiment of this server.
    """
    env = saved_environ(("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"))
    try:
        return _make_runs(tracking_uri, experiment)
    finally:
        from mlflow.tracking import fluent

        fluent._active_experiment_id = None
        restore_environ(env)


def _make_runs(tracking_uri: str, experiment: str) -> dict[str, str]:
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    ids: dict[str, str] = {}
    specs = [("baseline", 0.1, "linear", 1.0), ("deeper", 0.05, "mlp", 0.6), ("wider", 0.2, "mlp", 0.8)]
    for name, lr, model, scale in specs:
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params({"lr": lr, "model": model, "epochs": 20})
            mlflow.set_tags({"team": "search", "mlflow.source.git.commit": "3f2a9c1d" + name[:4]})
            for step in range(20):
                mlflow.log_metric("loss", scale * math.exp(-step / 6) + 0.02 * step / 20, step=step)
                mlflow.log_metric("accuracy", 1 - scale * 0.3 * math.exp(-step / 5), step=step)
            frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
            mlflow.log_input(mlflow.data.from_pandas(frame, name="train-set"), context="training")
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / "notes.txt").write_text(f"run {name}: learning rate {lr}\n")
                (folder / "predictions.csv").write_text("id,label,score\n1,cat,0.9\n2,dog,0.4\n3,\"cat, big\",0.7\n")
                (folder / "curve.png").write_bytes(tiny_png())
                mlflow.log_artifacts(str(folder))
                (folder / "model.txt").write_text("weights...\n")
                mlflow.log_artifact(str(folder / "model.txt"), artifact_path="model")
            ids[name] = run.info.run_id
    return ids
