"""``opsloop import-mlflow --from sqlite:///mlflow.db``: MLflow's default store since the file store was
deprecated, read directly."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

from tests.conftest import ServerProcess
from tests.migration.conftest import finish_fill, run_cli, start_fill


def test_a_sqlite_store_is_imported_with_its_registry(destination: ServerProcess, tmp_path: Path) -> None:
    import mlflow

    db = f"sqlite:///{tmp_path / 'work' / 'mlflow.db'}"
    filled = finish_fill(start_fill(db, tmp_path / "work", "--small", "--prefix=db-"))
    code, out, err = run_cli("import-mlflow", "--from", db, "--to", destination.url, "--experiment", "db-churn-exp",
                             "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["counts"]["runs"]["copied"] == 2 and summary["counts"]["model_versions"]["copied"] == 2
    src = mlflow.MlflowClient(tracking_uri=db, registry_uri=db)
    dst = mlflow.MlflowClient(tracking_uri=destination.url, registry_uri=destination.url)
    new_parent = summary["ids"]["runs"][filled["parent_run"]]
    assert dst.get_run(new_parent).data.params == src.get_run(filled["parent_run"]).data.params
    a = Path(src.download_artifacts(filled["parent_run"], "weights.bin", str(tmp_path / "a")))
    b = Path(dst.download_artifacts(new_parent, "weights.bin", str(tmp_path / "b")))
    assert filecmp.cmp(a, b, shallow=False)
    assert dst.get_model_version("db-legacy", "1").source == dst.get_run(new_parent).info.artifact_uri + "/legacy-model"
    new_model = summary["ids"]["logged_models"][filled["model_ids"][0]]
    assert dst.get_model_version("db-churn", "1").source == f"models:/{new_model}"
    assert dst.get_model_version_by_alias("db-churn", "champion").version == "1"
