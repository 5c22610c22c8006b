"""A fair and a biased classifier saved with mlflow, and labelled evaluation data."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def labelled(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Truth is a > 0 in group 0 and a > 0.5 in group 1: a model ignoring the group is unfair."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "group": rng.integers(0, 2, size=n).astype(float)})
    frame["label"] = np.where(frame["group"] == 0, frame["a"] > 0, frame["a"] > 0.5).astype(int)
    return frame


@pytest.fixture(scope="session")
def classifiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    warnings.filterwarnings("ignore")
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("validation-models")
    train = labelled(3000, seed=1)
    x = train[["a", "b", "group"]]
    fair = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, train["label"])
    biased = LogisticRegression().fit(x.assign(group=0.0), (train["a"] > 0).astype(int))
    out = {}
    for name, model in (("fair", fair), ("biased", biased)):
        out[name] = root / name
        mlflow.sklearn.save_model(model, str(out[name]), signature=infer_signature(x, model.predict(x)),
                                  serialization_format="cloudpickle")
    return out


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "eval.parquet"
    labelled(2000, seed=2).to_parquet(path)
    return path
