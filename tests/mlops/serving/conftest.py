"""Models saved with the real mlflow client, and real `opsloop serve` processes on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import free_port

FEATURES = ["age", "income", "score", "tenure"]


def training_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    y = ((x["age"] + x["income"] - 0.5 * x["score"]) > 0).astype(int)
    return x, y


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Directories of models saved by mlflow: sklearn, xgboost, lightgbm, pyfunc, sklearn-regressor."""
    warnings.filterwarnings("ignore")
    import lightgbm as lgb
    import mlflow.lightgbm
    import mlflow.pyfunc
    import mlflow.sklearn
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression, LogisticRegression

    root = tmp_path_factory.mktemp("models")
    x, y = training_frame()
    out: dict[str, Path] = {}
    clf = LogisticRegression().fit(x, y)
    out["sklearn"] = root / "sklearn"
    mlflow.sklearn.save_model(clf, str(out["sklearn"]), signature=infer_signature(x, clf.predict(x)),
                              input_example=x.head(2))
    clf2 = LogisticRegression(C=0.01).fit(x, y)
    out["sklearn_b"] = root / "sklearn_b"
    mlflow.sklearn.save_model(clf2, str(out["sklearn_b"]), signature=infer_signature(x, clf2.predict(x)))
    reg = LinearRegression().fit(x, x["age"] * 2)
    out["regressor"] = root / "regressor"
    mlflow.sklearn.save_model(reg, str(out["regressor"]), signature=infer_signature(x, reg.predict(x)),
                              serialization_format="cloudpickle")
    xg = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    out["xgboost"] = root / "xgboost"
    mlflow.xgboost.save_model(xg, str(out["xgboost"]), signature=infer_signature(x, xg.predict(x)))
    lg = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y)
    out["lightgbm"] = root / "lightgbm"
    mlflow.lightgbm.save_model(lg, str(out["lightgbm"]), signature=infer_signature(x, lg.predict(x)))

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001
            return model_input["age"] * 2

    out["pyfunc"] = root / "pyfunc"
    mlflow.pyfunc.save_model(str(out["pyfunc"]), python_model=Doubler(),
                             signature=infer_signature(x, x["age"] * 2))
    return out


@pytest.fixture(scope="session")
def serve_process() -> Iterator[Callable[..., tuple[str, subprocess.Popen]]]:
    """Start `opsloop serve` subprocesses; returns (base_url, process). All are stopped at the end."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, wait: bool = True) -> tuple[str, subprocess.Popen]:
        port = free_port()
        cmd = [sys.executable, "-c", "from opsloop.cli.serving import serve; serve()", *args,
               "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONWARNINGS": "ignore"})
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        if wait:
            deadline = time.time() + 90
            while time.time() < deadline:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server died"
                try:
                    if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise AssertionError("server did not start")
        return url, proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
