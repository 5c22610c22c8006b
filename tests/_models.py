"""A small model registered with the real mlflow client, for tests that need one on a server; and the
stand-in of a served model's request that a ``PredictionSampler`` records."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

__all__ = ["register_sklearn_champion", "sampled_request"]


def register_sklearn_champion(url: str, name: str) -> str:
    """Log a logistic regression on columns ``a``, ``b`` (label: ``a + b > 0``) to the server at ``url``,
    register it as ``name`` and point ``@champion`` at it; returns the version."""
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] + x["b"] > 0).astype(int)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model", input_example=x.head(2))
    version = mlflow.register_model(info.model_uri, name).version
    MlflowClient(url).set_registered_model_alias(name, "champion", version)
    return version


def sampled_request() -> tuple[SimpleNamespace, SimpleNamespace]:
    """A served model (one input ``x``, uuid ``u1``) and a decoded two-row request, as the scoring app
    hands them to a recorder: ``recorder.record(request_id, "champion", model, data, predictions)``."""
    model = SimpleNamespace(signature=SimpleNamespace(names=["x"]), model_uuid="u1")
    data = SimpleNamespace(matrix=np.asarray([[1.0], [2.0]]), frame=None, tensor=None)
    return model, data
