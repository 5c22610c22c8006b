"""The unmodified mlflow client's model-registry workflow against a real opsloop server."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from tests.mlops.registry.conftest import LoggedSklearn, unique


@pytest.fixture
def client(mlflow_at: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_at, registry_uri=mlflow_at)


def test_register_alias_and_load_champion_predicts(client: MlflowClient,
                                                   sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged, _ = sklearn_models
    name = unique("iris")
    mv = mlflow.register_model(f"runs:/{logged.run_id}/model", name)
    assert (mv.name, mv.version, mv.run_id, mv.status) == (name, "1", logged.run_id, "READY")
    client.set_registered_model_alias(name, "champion", mv.version)
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])
    assert [v.version for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(model.predict(logged.X), logged.expected)


def test_alias_move_changes_what_loads(client: MlflowClient,
                                       sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    first, second = sklearn_models
    name = unique("flip")
    mlflow.register_model(first.model_uri, name)
    mlflow.register_model(second.model_uri, name)
    client.set_registered_model_alias(name, "champion", "2")
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(first.X),
                                  second.expected)
    client.set_registered_model_alias(name, "champion", "1")
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(first.X),
                                  first.expected)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}/2").predict(first.X),
                                  second.expected)


def test_delete_alias_and_version(client: MlflowClient, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged, _ = sklearn_models
    name = unique("del")
    for _ in range(3):
        mlflow.register_model(logged.model_uri, name)
    client.set_registered_model_alias(name, "champion", "2")
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as err:
        client.get_model_version_by_alias(name, "champion")
    # MLflow's server answers an alias that is not set with 400 INVALID_PARAMETER_VALUE, not a 404
    assert (err.value.get_http_status_code(), err.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert err.value.message == "INVALID_PARAMETER_VALUE: Registered model alias champion not found."
    client.delete_model_version(name, "2")
    assert sorted(v.version for v in client.search_model_versions(f"name='{name}'")) == ["1", "3"]
    with pytest.raises(MlflowException) as err:
        client.get_model_version(name, "2")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.register_model(logged.model_uri, name).version == "4"


def test_alias_moves_leave_last_updated_timestamps_alone(client: MlflowClient,
                                                         sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    # MLflow's server keeps the model's (and the version's) last_updated_timestamp when an alias is set or deleted
    logged, _ = sklearn_models
    name = unique("stamp")
    mlflow.register_model(logged.model_uri, name)
    before = (client.get_registered_model(name).last_updated_timestamp,
              client.get_model_version(name, "1").last_updated_timestamp)
    while time.time_ns() // 1_000_000 <= max(before):  # a move stamped now would show
        time.sleep(0.001)
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    assert (client.get_registered_model(name).last_updated_timestamp,
            client.get_model_version(name, "1").last_updated_timestamp) == before
    client.delete_registered_model_alias(name, "champion")
    assert client.get_registered_model(name).aliases == {}
    assert (client.get_registered_model(name).last_updated_timestamp,
            client.get_model_version(name, "1").last_updated_timestamp) == before


def test_rename_tags_and_descriptions(client: MlflowClient, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged, _ = sklearn_models
    name, new_name = unique("old"), unique("new")
    client.create_registered_model(name, tags={"team": "risk"}, description="first")
    client.create_model_version(name, logged.model_uri, run_id=logged.run_id, tags={"k": "v"},
                                description="v1 notes")
    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "team")
    client.update_model_version(name, "1", description="v1 better notes")
    client.set_model_version_tag(name, "1", "validated", "true")
    client.delete_model_version_tag(name, "1", "k")
    client.set_registered_model_alias(name, "champion", "1")
    client.rename_registered_model(name, new_name)
    rm = client.get_registered_model(new_name)
    assert (rm.description, rm.tags, rm.aliases) == ("second", {"owner": "ana"}, {"champion": "1"})
    assert [v.version for v in rm.latest_versions] == ["1"]
    mv = client.get_model_version(new_name, "1")
    assert (mv.description, mv.tags) == ("v1 better notes", {"validated": "true"})
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(name)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{new_name}@champion").predict(logged.X),
                                  logged.expected)


def test_search_registered_models_with_filter_and_pages(client: MlflowClient) -> None:
    prefix = unique("search")
    for i in range(5):
        client.create_registered_model(f"{prefix}-{i}", tags={"team": "a" if i < 2 else "b"})
    first = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2)
    assert [m.name for m in first] == [f"{prefix}-0", f"{prefix}-1"] and first.token
    second = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2, page_token=first.token)
    third = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2, page_token=second.token)
    assert [m.name for m in second] + [m.name for m in third] == [f"{prefix}-{i}" for i in (2, 3, 4)]
    assert not third.token
    team_a = client.search_registered_models(f"name LIKE '{prefix}%' AND tags.team = 'a'", order_by=["name DESC"])
    assert [m.name for m in team_a] == [f"{prefix}-1", f"{prefix}-0"]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated in mlflow, still served
def test_legacy_stages_still_work(client: MlflowClient, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged, _ = sklearn_models
    name = unique("stages")
    for _ in range(2):
        mlflow.register_model(logged.model_uri, name)
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}/Production").predict(logged.X),
                                  logged.expected)


def test_download_uri_points_at_the_logged_model(client: MlflowClient,
                                                 sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged, _ = sklearn_models
    name = unique("uri")
    mlflow.register_model(logged.model_uri, name)
    uri = client.get_model_version_download_uri(name, "1")
    assert uri.startswith("mlflow-artifacts:") and logged.model_id in uri
    assert client.get_logged_model(logged.model_id).name == "model"


def test_client_errors_carry_mlflow_codes(client: MlflowClient) -> None:
    name = unique("dup")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as err:
        client.create_registered_model(name)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(unique("missing"))
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.set_registered_model_alias(name, "bad alias!", "1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_register_model_files_logged_as_run_artifacts(client: MlflowClient, mlflow_at: str, tmp_path) -> None:
    """The MLflow 2 layout: the model folder is a run artifact, registered from its mlflow-artifacts location."""
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(model, tmp_path / "saved")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "saved"), "legacy_model")
    name = unique("legacy")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/legacy_model", name)
    assert mv.source.startswith("mlflow-artifacts:") and mv.source.endswith("/legacy_model")
    assert mv.run_id == run.info.run_id
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}")
    np.testing.assert_array_equal(loaded.predict(X), y)


def test_prompt_registry_round_trip(client: MlflowClient, mlflow_at: str) -> None:
    """mlflow.genai's prompt registry: versions are registered from MLflow's placeholder source."""
    name = unique("greeting").replace("-", "_")
    assert mlflow.genai.register_prompt(name=name, template="Hello {{name}}", commit_message="first").version == 1
    assert mlflow.genai.register_prompt(name=name, template="Hi {{name}}").version == 2
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").format(name="Ada") == "Hello Ada"
    mlflow.genai.set_prompt_alias(name, "production", 1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").template == "Hello {{name}}"
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest").template == "Hi {{name}}"
    assert name in [p.name for p in mlflow.genai.search_prompts(f"name = '{name}'")]
    assert name not in [m.name for m in client.search_registered_models(f"name = '{name}'")]
    assert client.search_model_versions(f"name = '{name}'") == []
