"""A real MLflow store to import from, filled with the mlflow client the way teams fill theirs.

Run as ``python -m tests.migration._source TRACKING_URI WORKDIR [--small]``: it fills the store in a process
of its own (the mlflow client keeps process-wide state) and prints what it logged as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL = "churn"
LEGACY = "legacy"


@dataclass
class Filled:
    """What was logged, by source id: enough for a test to find each thing in the destination."""

    experiment: str
    parent_run: str
    child_run: str
    deleted_run: str
    model_ids: list[str] = field(default_factory=list)
    draft_model: str = ""
    large_file_size: int = 0
    inputs: list[list[float]] = field(default_factory=list)


def fill(tracking_uri: str, workdir: Path, small: bool = False, prefix: str = "", rows: int = 40) -> Filled:
    """Two experiments (one deleted), a parent run with a child, metrics past one log_batch, nested and
    large artifacts, a dataset input, a version of ``legacy`` whose source is a folder of the parent's
    artifacts (as MLflow 2 registered them), two MLflow 3 logged models registered as versions 1 and 2 of
    ``churn`` (v1 in Staging, v2 @champion), a metric linked to a model, and a deleted run. ``small``: one
    model version and a small file; ``prefix`` goes before the experiment and model names."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient()
    model_name = prefix + MODEL
    exp_id = mlflow.create_experiment(prefix + "churn-exp", tags={"team": "risk", "mlflow.note.content": "churn models"})
    gone = mlflow.create_experiment(prefix + "old-exp")
    mlflow.MlflowClient().create_run(gone)
    client.delete_experiment(gone)

    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 3.0
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    art = workdir / "art"
    (art / "plots" / "deep").mkdir(parents=True)
    (art / "plots" / "deep" / "curve.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    (art / "notes.txt").write_text("first run\n")
    large = os.urandom(64 * 1024 if small else 3 * 2**20 + 17)
    (art / "weights.bin").write_bytes(large)

    filled = Filled(prefix + "churn-exp", "", "", "", large_file_size=len(large))
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="parent", description="sweep") as parent:
        filled.parent_run = parent.info.run_id
        mlflow.log_params({"lr": "0.1", "depth": "3"})
        mlflow.log_params({f"grid.p{i}": str(i) for i in range(250)})  # more than one batch holds
        mlflow.set_tags({f"note.t{i}": "x" * i for i in range(150)})
        client.log_batch(parent.info.run_id, metrics=[
            mlflow.entities.Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(1500)])
        mlflow.set_tag("stage", "sweep")
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train", targets="y"), context="training")
        mlflow.log_artifacts(str(art))
        # registered the MLflow 2 way: the version's source is a folder of the run's artifacts
        legacy = LinearRegression().fit(x, -y)
        mlflow.sklearn.save_model(legacy, str(workdir / "legacy-model"), pip_requirements=["scikit-learn"])
        mlflow.log_artifacts(str(workdir / "legacy-model"), "legacy-model")
        client.create_registered_model(prefix + LEGACY)
        client.create_model_version(prefix + LEGACY, f"{parent.info.artifact_uri}/legacy-model",
                                    run_id=parent.info.run_id)
        with mlflow.start_run(run_name="child", nested=True) as child:
            filled.child_run = child.info.run_id
            for version, scale in enumerate((1.0,) if small else (1.0, 2.0), start=1):
                model = LinearRegression().fit(x, y * scale)
                info = mlflow.sklearn.log_model(model, name=f"model-v{version}", registered_model_name=model_name,
                                                params={"alpha": str(scale)}, tags={"kind": "linear"},
                                                pip_requirements=["scikit-learn"])
                filled.model_ids.append(info.model_id)
                mlflow.log_metric("r2", 0.9 + version / 100, step=version, model_id=info.model_id)
            mlflow.log_metric("rmse", 0.25)
    # a logged model outside any run, never finished and without files
    filled.draft_model = client.create_logged_model(exp_id, name="draft", params={"seed": "1"}).model_id
    with mlflow.start_run(run_name="mistake") as bad:
        filled.deleted_run = bad.info.run_id
        mlflow.log_param("oops", "1")
    client.delete_run(filled.deleted_run)

    client.update_registered_model(model_name, description="predicts churn")
    client.set_registered_model_tag(model_name, "owner", "risk-team")
    client.update_model_version(model_name, "1", description="first fit")
    client.set_model_version_tag(model_name, "1", "validated", "yes")
    client.transition_model_version_stage(model_name, "1", "Staging")
    client.set_registered_model_alias(model_name, "champion", str(len(filled.model_ids)))
    client.set_registered_model_alias(model_name, "first", "1")
    filled.inputs = frame[["a", "b", "c"]].head(5).values.tolist()
    return filled


if __name__ == "__main__":
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    prefix = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--prefix=")), "")
    done = fill(args[0], Path(args[1]), small="--small" in sys.argv, prefix=prefix)
    print(json.dumps(dataclasses.asdict(done)))
