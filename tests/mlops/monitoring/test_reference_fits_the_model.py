"""A reference the served model could not have been trained on is refused with the column named, instead
of replacing the reference with a profile that leaves a model input unmonitored."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring.service import reference_with_predictions
from opsloop.mlops.serving import load_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> object:
    warnings.filterwarnings("ignore")
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"tenure": rng.normal(12, 4, 200), "charges": rng.normal(70, 15, 200)})
    fitted = LogisticRegression().fit(x, (x["tenure"] > 12).astype(int))
    path = tmp_path_factory.mktemp("reference-model") / "model"
    mlflow.sklearn.save_model(fitted, str(path), signature=infer_signature(x, fitted.predict(x)))
    return load_model(str(path))


def test_training_data_with_a_label_column_profiles_the_inputs_and_predictions(model: object) -> None:
    frame = pd.DataFrame({"tenure": [1.0, 20.0], "charges": [50.0, 90.0], "churned": [0, 1]})
    features, preds = reference_with_predictions(model, frame)
    assert list(features.columns) == ["tenure", "charges"] and len(preds) == 2


def test_a_reference_missing_a_model_input_is_refused(model: object) -> None:
    frame = pd.DataFrame({"tenure": [1.0, 3.0], "x": [2.0, 4.0]})
    with pytest.raises(InvalidInputError, match=r"lacks the model's inputs \['charges'\]") as err:
        reference_with_predictions(model, frame)
    assert err.value.field == "charges"


def test_a_reference_with_text_in_a_numeric_input_is_refused(model: object) -> None:
    frame = pd.DataFrame({"tenure": [1.0, 3.0], "charges": ["abc", "4"]})
    with pytest.raises(InvalidInputError, match="'charges'.*double") as err:
        reference_with_predictions(model, frame)
    assert err.value.field == "charges"


def test_a_reference_whose_model_input_has_no_values_is_refused(model: object) -> None:
    frame = pd.DataFrame({"tenure": [None, None], "charges": [50.0, 90.0]})
    with pytest.raises(InvalidInputError, match="'tenure'.*no values") as err:
        reference_with_predictions(model, frame)
    assert err.value.field == "tenure"
