"""The scoring app speaks MLflow's protocol for every flavour and rejects bad input with clear 4xx."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from opsloop.errors import InvalidInputError, MissingDependencyError, NotFoundError
from opsloop.mlops.serving import ModelSlots, ScoringApp, load_model

from .conftest import FEATURES, training_frame

ROWS = [[0.5, -1.0, 0.3, 2.0], [-0.2, 0.4, -1.1, 0.0]]


def client_for(path: Path) -> TestClient:
    return TestClient(ScoringApp(ModelSlots(load_model(path))))


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm", "pyfunc", "regressor"])
def test_every_input_format_gives_the_same_predictions(models: dict[str, Path], flavor: str) -> None:
    client = client_for(models[flavor])
    records = [dict(zip(FEATURES, r, strict=True)) for r in ROWS]
    bodies = [
        {"dataframe_split": {"columns": FEATURES, "data": ROWS}},
        {"dataframe_split": {"columns": FEATURES[::-1], "data": [r[::-1] for r in ROWS]}},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {f: [r[i] for r in ROWS] for i, f in enumerate(FEATURES)}},
    ]
    answers = []
    for body in bodies:
        r = client.post("/invocations", json=body)
        assert r.status_code == 200, r.text
        answers.append(r.json()["predictions"])
    assert all(np.allclose(a, answers[0]) for a in answers)
    assert len(answers[0]) == 2


def test_native_flavours_use_the_ndarray_fast_path(models: dict[str, Path]) -> None:
    for flavor in ("sklearn", "xgboost", "lightgbm", "regressor"):
        assert load_model(models[flavor]).fast_path, flavor
    assert load_model(models["pyfunc"]).flavor == "python_function"


def test_predictions_match_the_model_itself(models: dict[str, Path]) -> None:
    model = load_model(models["sklearn"])
    x, _ = training_frame(50, seed=3)
    r = client_for(models["sklearn"]).post(
        "/invocations", json={"dataframe_split": {"columns": FEATURES, "data": x.to_numpy().tolist()}})
    assert r.json()["predictions"] == model.native.predict(x).tolist()


def test_csv_body_is_scored(models: dict[str, Path]) -> None:
    csv = "age,income,score,tenure\n0.5,-1.0,0.3,2.0\n"
    r = client_for(models["sklearn"]).post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1


@pytest.mark.parametrize("flavor", ["sklearn", "pyfunc"])
@pytest.mark.parametrize(("body", "needle", "field"), [
    ({"dataframe_split": {"columns": FEATURES[:3], "data": [[1, 2, 3]]}}, "tenure", "tenure"),
    ({"dataframe_records": [{"age": 1, "income": 2, "score": 3}]}, "tenure", "tenure"),
    ({"dataframe_split": {"columns": FEATURES, "data": [[1, "abc", 3, 4]]}}, "income", "income"),
    ({"dataframe_records": [{"age": 1, "income": 2, "score": "x", "tenure": 1}]}, "score", "score"),
    ({"dataframe_split": {"columns": FEATURES, "data": []}}, "empty batch", "body"),
    ({"dataframe_records": []}, "empty batch", "body"),
    ({"columns": FEATURES, "data": [[1, 2, 3, 4]]}, "exactly one of", "body"),
    ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "exactly one of", "body"),
    ({"dataframe_split": {"columns": 7, "data": [[1, 2, 3, 4]]}}, "list of column names", "columns"),
    ({"dataframe_split": {"columns": ["age", [], "score", "tenure"], "data": [[1, 2, 3, 4]]}},
     "list of column names", "columns"),
    # a short row is refused, never padded with missing values
    ({"dataframe_split": {"columns": FEATURES, "data": [[1, 2, 3, 4], [1, 2]]}}, "row 1 must be", "body"),
    ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, "row 1 must be", "body"),
    # and every row is a list once one is (pandas read a string as a row of its characters)
    ({"dataframe_split": {"columns": FEATURES, "data": [[1, 2, 3, 4], "abcd"]}}, "row 1 must be a list of 4 "
     "values (got a string)", "body"),
    ({"instances": [[1, 2, 3, 4], {"age": 1}]}, "row 1 must be a list of 4 values (got an object)", "body"),
    ({"inputs": {"age": [[None, None]], "income": [1], "score": [1], "tenure": [1]}}, "age", "age"),
])
def test_bad_payloads_get_a_400_naming_the_problem(models: dict[str, Path], flavor: str, body: dict,
                                                   needle: str, field: str) -> None:
    r = client_for(models[flavor]).post("/invocations", json=body)
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["error_code"] == "BAD_REQUEST"
    assert needle in doc["message"]
    assert doc["field"] == field


def test_malformed_json_wrong_type_method_and_route(models: dict[str, Path]) -> None:
    client = client_for(models["sklearn"])
    r = client.post("/invocations", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = client.post("/invocations", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/invocations", content=b"x", headers={"content-type": "application/xml"})
    assert r.status_code == 415
    assert client.get("/invocations").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_ping_health_version_and_metrics(models: dict[str, Path]) -> None:
    client = client_for(models["sklearn"])
    assert client.get("/ping").text == "\n"
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["flavor"] == "sklearn"
    assert client.get("/version").status_code == 200
    client.post("/invocations", json={"dataframe_split": {"columns": FEATURES, "data": ROWS}})
    client.post("/invocations", json={"dataframe_split": {"columns": FEATURES, "data": []}})
    text = client.get("/metrics").text
    assert 'opsloop_serving_requests_total{model="' in text
    assert 'status="2xx"} 1' in text and 'status="4xx"} 1' in text
    assert 'kind="bad_request"} 1' in text
    assert "opsloop_serving_request_duration_seconds_bucket" in text
    assert 'opsloop_serving_rows_total{model="' in text and 'variant="champion"} 2' in text
    assert 'opsloop_serving_prediction_value_count{' in text


def test_request_id_is_echoed_or_made(models: dict[str, Path]) -> None:
    client = client_for(models["sklearn"])
    body = {"dataframe_split": {"columns": FEATURES, "data": ROWS}}
    assert client.post("/invocations", json=body, headers={"x-request-id": "abc"}).headers["x-request-id"] == "abc"
    assert client.post("/invocations", json=body).headers["x-request-id"]


def test_unknown_directory_and_broken_model_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    with pytest.raises(InvalidInputError, match="failed to load"):
        load_model(tmp_path)
    (tmp_path / "MLmodel").write_text("just text")
    with pytest.raises(InvalidInputError, match="flavors"):
        load_model(tmp_path)


def test_registry_uri_without_a_resolver_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="no model resolver"):
        load_model("models:/fraud@champion")


def test_custom_pyfunc_without_mlflow_names_the_missing_package(models: dict[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingDependencyError, match="mlflow"):
        load_model(models["pyfunc"])
    assert load_model(models["sklearn"]).flavor == "sklearn"  # native flavours need no mlflow


def test_predictions_body_is_mlflow_shaped(models: dict[str, Path]) -> None:
    r = client_for(models["regressor"]).post(
        "/invocations", json={"dataframe_split": {"columns": FEATURES, "data": ROWS}})
    assert set(json.loads(r.content)) == {"predictions"}
    assert r.json()["predictions"] == pytest.approx([1.0, -0.4])


def test_tensor_and_signature_less_models(tmp_path: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    x, _ = training_frame(100)
    arr = x.to_numpy()
    model = LinearRegression().fit(arr, arr[:, 0])
    mlflow.sklearn.save_model(model, str(tmp_path / "tensor"), signature=infer_signature(arr, model.predict(arr)))
    mlflow.sklearn.save_model(model, str(tmp_path / "plain"))
    loaded = load_model(tmp_path / "tensor")
    assert loaded.signature.tensor is not None
    client = TestClient(ScoringApp(ModelSlots(loaded)))
    for body in ({"inputs": ROWS}, {"instances": ROWS}, {"dataframe_split": {"data": ROWS}}):
        r = client.post("/invocations", json=body)
        assert r.status_code == 200 and r.json()["predictions"] == pytest.approx([0.5, -0.2]), r.text
    r = client.post("/invocations", json={"inputs": [[1, 2, 3]]})
    assert r.status_code == 400 and "shape" in r.json()["message"]
    r = client.post("/invocations", json={"inputs": [[1, "x", 3, 4]]})
    assert r.status_code == 400
    plain = TestClient(ScoringApp(ModelSlots(load_model(tmp_path / "plain"))))
    assert plain.post("/invocations", json={"instances": ROWS}).json()["predictions"] == pytest.approx([0.5, -0.2])


def test_a_fraction_in_an_integer_column_is_refused_not_cut(tmp_path: Path) -> None:
    """A long column given 2.5 reached the model as 2 (pandas' astype cuts it): MLflow refuses it."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    def build() -> mlflow.pyfunc.PythonModel:
        class Echo(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                return model_input["n"]

        return Echo()

    frame = pd.DataFrame({"n": [1, 2], "plan": ["a", "b"]})
    mlflow.pyfunc.save_model(str(tmp_path / "echo"), python_model=build(),
                             signature=infer_signature(frame, frame["n"]))
    client = client_for(tmp_path / "echo")
    ok = client.post("/invocations", json={"dataframe_records": [{"n": 2.0, "plan": "a"}, {"n": 3, "plan": "b"}]})
    assert ok.status_code == 200 and ok.json()["predictions"] == [2, 3]
    cut = client.post("/invocations", json={"dataframe_records": [{"n": 1, "plan": "a"}, {"n": 2.5, "plan": "b"}]})
    assert cut.status_code == 400, cut.json()
    assert cut.json() == {"error_code": "BAD_REQUEST", "message": "column 'n' expects long; got 2.5 in row 1",
                          "field": "n"}
