"""``opsloop import-mlflow`` from a real MLflow file store into a real opsloop server, checked through the
mlflow client on both sides: what a team moving over would look at."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.migration.conftest import run_cli

SOURCE_TAG = "opsloop.import.source_run_id"


@pytest.fixture(scope="module")
def imported(file_store: tuple[Path, dict[str, Any]], destination: ServerProcess) -> dict[str, Any]:
    """A dry run; an import during which one run cannot be read; the import again once it can."""
    store, filled = file_store
    before = _experiment_names(destination.url)  # the destination is shared with the other import tests
    dry = run_cli("import-mlflow", "--from", str(store), "--to", destination.url, "--dry-run", "--json")
    assert dry[0] == 0, dry[2]
    wrote = sorted(set(_experiment_names(destination.url)) - set(before))
    broken = next(store.glob(f"*/{filled['child_run']}/artifacts")) / "unreadable.bin"
    broken.symlink_to(broken.parent / "gone")  # a file the store lists but cannot read
    partial = run_cli("import-mlflow", "--from", str(store), "--to", destination.url, "--json")
    left = [r.info.run_id for r in _runs(destination.url)]
    broken.unlink()
    done = run_cli("import-mlflow", "--from", str(store), "--to", destination.url, "--json")
    assert done[0] == 0, done[2]
    return {"dry": json.loads(dry[1]), "dry_stderr": dry[2], "partial": (partial[0], json.loads(partial[1]), partial[2]),
            "left_after_partial": left, "summary": json.loads(done[1]), "stderr": done[2],
            "after_dry_run": wrote}


def _runs(url: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    exp = client.get_experiment_by_name("churn-exp")
    return client.search_runs([exp.experiment_id]) if exp else []


@pytest.fixture
def clients(file_store: tuple[Path, dict[str, Any]], destination: ServerProcess,
            monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """mlflow clients on the source store and on opsloop."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = file_store[0].as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MLflow's file registry reads through the default client
    return (MlflowClient(tracking_uri=uri, registry_uri=uri),
            MlflowClient(tracking_uri=destination.url, registry_uri=destination.url))


def _experiment_names(url: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(e.name for e in MlflowClient(tracking_uri=url).search_experiments())


def test_a_dry_run_lists_what_would_be_copied_and_writes_nothing(imported: dict[str, Any]) -> None:
    dry = imported["dry"]
    assert dry["dry_run"] is True
    assert imported["after_dry_run"] == []
    assert dry["counts"]["runs"] == {"copied": 2, "skipped": 0, "failed": 0}
    assert dry["counts"]["model_versions"]["copied"] == 3
    assert dry["counts"]["logged_models"]["copied"] == 3
    listed = imported["dry_stderr"]
    assert "experiment 'churn-exp': would be created" in listed
    assert listed.count("would be copied") == 2 + 3 + 3  # runs, logged models, versions


def test_runs_keep_params_metric_histories_tags_inputs_and_parents(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]], clients: tuple[Any, Any]) -> None:
    src, dst = clients
    filled = file_store[1]
    ids = imported["summary"]["ids"]["runs"]
    assert set(ids) == {filled["parent_run"], filled["child_run"]}  # the deleted run stays behind
    assert "old-exp" not in _experiment_names(dst.tracking_uri)      # and so does the deleted experiment
    exp = dst.get_experiment_by_name("churn-exp")
    assert exp.tags["team"] == "risk" and exp.tags["mlflow.note.content"] == "churn models"
    for old, new in ids.items():
        a, b = src.get_run(old), dst.get_run(new)
        assert b.info.experiment_id == exp.experiment_id
        assert (b.info.run_name, b.info.status, b.info.start_time, b.info.end_time, b.info.user_id) == (
            a.info.run_name, a.info.status, a.info.start_time, a.info.end_time, a.info.user_id)
        assert b.data.params == a.data.params
        expected_tags = dict(a.data.tags, **{SOURCE_TAG: old})
        if "mlflow.parentRunId" in a.data.tags:
            expected_tags["mlflow.parentRunId"] = ids[a.data.tags["mlflow.parentRunId"]]
        assert b.data.tags == expected_tags
        for key in a.data.metrics:
            history = [(m.step, m.timestamp, m.value) for m in dst.get_metric_history(new, key)]
            assert sorted(history) == sorted((m.step, m.timestamp, m.value) for m in src.get_metric_history(old, key))
        assert _datasets(b) == _datasets(a)
        models = imported["summary"]["ids"]["logged_models"]
        assert sorted((models[m.model_id], m.step) for m in a.outputs.model_outputs) == sorted(
            (m.model_id, m.step) for m in b.outputs.model_outputs)
    parent = dst.get_run(ids[filled["parent_run"]])
    assert len(dst.get_metric_history(parent.info.run_id, "loss")) == 1500
    assert _datasets(parent) and _datasets(parent)[0][0] == "train"


def _datasets(run: Any) -> list[tuple]:
    return sorted((d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema,
                   d.dataset.profile, tuple(sorted((t.key, t.value) for t in d.tags)))
                  for d in run.inputs.dataset_inputs)


def test_artifacts_arrive_byte_for_byte(imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]],
                                        clients: tuple[Any, Any], tmp_path: Path) -> None:
    src, dst = clients
    old = file_store[1]["parent_run"]
    a = Path(src.download_artifacts(old, "", str(tmp_path / "a")))
    b = Path(dst.download_artifacts(imported["summary"]["ids"]["runs"][old], "", str(tmp_path / "b")))
    assert (b / "weights.bin").stat().st_size == file_store[1]["large_file_size"]
    assert (b / "plots" / "deep" / "curve.csv").is_file()
    _same_tree(a, b)


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files_a], shallow=False)
    assert not mismatch and not errors


def test_logged_models_keep_params_tags_metrics_status_and_artifacts(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]], clients: tuple[Any, Any],
        tmp_path: Path) -> None:
    import mlflow

    src, dst = clients
    models = imported["summary"]["ids"]["logged_models"]
    runs = imported["summary"]["ids"]["runs"]
    assert set(models) == {*file_store[1]["model_ids"], file_store[1]["draft_model"]}
    for old, new in models.items():
        a, b = src.get_logged_model(old), dst.get_logged_model(new)
        # the REST client reads an unset model type as "" where the file store says None
        assert (b.name, b.params, b.model_type or None, str(b.status)) == (
            a.name, a.params, a.model_type or None, str(a.status))
        assert (b.source_run_id or None) == (runs[a.source_run_id] if a.source_run_id else None)
        assert b.tags == dict(a.tags, **{"opsloop.import.source_model_id": old})
        assert sorted((m.key, m.value, m.step, m.timestamp) for m in b.metrics) == sorted(
            (m.key, m.value, m.step, m.timestamp) for m in a.metrics)
        if old == file_store[1]["draft_model"]:  # pending, without files: nothing to download
            assert str(b.status) == "PENDING" and not dst.list_logged_model_artifacts(new)
            continue
        got_a = Path(mlflow.artifacts.download_artifacts(artifact_uri=a.artifact_location,
                                                         dst_path=str(tmp_path / old),
                                                         tracking_uri=src.tracking_uri))
        got_b = Path(mlflow.artifacts.download_artifacts(artifact_uri=b.artifact_location,
                                                         dst_path=str(tmp_path / new),
                                                         tracking_uri=dst.tracking_uri))
        _same_tree(got_a, got_b)
    child = dst.get_run(runs[file_store[1]["child_run"]])
    # a metric logged against a model is one point of the run's history, as in the source
    assert len(dst.get_metric_history(child.info.run_id, "r2")) == 2


def test_the_registry_keeps_versions_stages_aliases_and_serves_the_same_model(
        imported: dict[str, Any], clients: tuple[Any, Any]) -> None:
    import mlflow
    import numpy as np
    import pandas as pd

    src, dst = clients
    a, b = src.get_registered_model("churn"), dst.get_registered_model("churn")
    assert (b.description, b.tags, b.aliases) == (a.description, a.tags, a.aliases)
    models = imported["summary"]["ids"]["logged_models"]
    runs = imported["summary"]["ids"]["runs"]
    for v in ("1", "2"):
        va, vb = src.get_model_version("churn", v), dst.get_model_version("churn", v)
        assert (vb.description, vb.current_stage) == (va.description, va.current_stage)
        assert vb.tags == dict(va.tags, **{"opsloop.import.source_version": v})
        assert vb.run_id == runs[va.run_id]
        assert vb.source == f"models:/{models[va.model_id]}"
        # the mlflow client reads no model_id from a server's answer: ask the REST API itself
        wire = httpx.get(f"{dst.tracking_uri}/api/2.0/mlflow/model-versions/get",
                         params={"name": "churn", "version": v})
        assert wire.json()["model_version"]["model_id"] == models[va.model_id]
    frame = pd.DataFrame(np.arange(15, dtype=float).reshape(5, 3), columns=["a", "b", "c"])
    mlflow.set_registry_uri(src.tracking_uri)
    mlflow.set_tracking_uri(src.tracking_uri)
    expected = mlflow.pyfunc.load_model("models:/churn@champion").predict(frame)
    mlflow.set_registry_uri(dst.tracking_uri)
    mlflow.set_tracking_uri(dst.tracking_uri)
    got = mlflow.pyfunc.load_model("models:/churn@champion").predict(frame)
    np.testing.assert_allclose(got, expected)
    assert not np.allclose(got, mlflow.pyfunc.load_model("models:/churn@first").predict(frame))


def test_a_version_registered_from_run_artifacts_points_at_the_copied_run(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]], clients: tuple[Any, Any]) -> None:
    import mlflow
    import numpy as np

    src, dst = clients
    old = src.get_model_version("legacy", "1")
    new = dst.get_model_version("legacy", "1")
    new_run = imported["summary"]["ids"]["runs"][file_store[1]["parent_run"]]
    assert new.run_id == new_run
    assert new.source == dst.get_run(new_run).info.artifact_uri + "/legacy-model"
    assert old.source.startswith("file:")
    x = np.ones((2, 3))
    mlflow.set_tracking_uri(src.tracking_uri)
    mlflow.set_registry_uri(src.tracking_uri)
    expected = mlflow.pyfunc.load_model("models:/legacy/1").predict(x)
    mlflow.set_tracking_uri(dst.tracking_uri)
    mlflow.set_registry_uri(dst.tracking_uri)
    np.testing.assert_allclose(mlflow.pyfunc.load_model("models:/legacy/1").predict(x), expected)


def test_a_second_import_skips_everything_and_duplicates_nothing(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]], destination: ServerProcess,
        clients: tuple[Any, Any]) -> None:
    _src, dst = clients
    code, out, err = run_cli("import-mlflow", "--from", file_store[0].as_uri(), "--to", destination.url)
    assert code == 0, err
    assert "already there" in out
    exp = dst.get_experiment_by_name("churn-exp")
    assert len(dst.search_runs([exp.experiment_id])) == 2
    assert len(dst.search_model_versions("name = 'churn'")) == 2
    parent = imported["summary"]["ids"]["runs"][file_store[1]["parent_run"]]
    assert len(dst.get_metric_history(parent, "loss")) == 1500
    code, out, _ = run_cli("import-mlflow", "--from", str(file_store[0]), "--to", destination.url, "--json")
    counts = json.loads(out)["counts"]
    assert {k: c["copied"] for k, c in counts.items()} == dict.fromkeys(counts, 0)
    assert counts["runs"]["skipped"] == 2 and counts["model_versions"]["skipped"] == 3


def test_a_run_that_fails_is_reported_the_rest_is_copied_and_the_next_import_finishes_it(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]]) -> None:
    code, summary, err = imported["partial"]
    child, parent = file_store[1]["child_run"], file_store[1]["parent_run"]
    assert code == 1
    assert [(f["kind"], f["source_id"]) for f in summary["failures"] if f["kind"] == "runs"] == [("runs", child)]
    assert f"failed: runs {child}" in err and "Traceback" not in err
    assert summary["counts"]["runs"] == {"copied": 1, "skipped": 0, "failed": 1}
    assert summary["counts"]["model_versions"]["failed"] == 2  # they come from the child's models
    # the half-copied run is not left looking like a copy; the parent is
    assert imported["left_after_partial"] == [summary["ids"]["runs"][parent]]
    resumed = imported["summary"]
    assert resumed["counts"]["runs"] == {"copied": 1, "skipped": 1, "failed": 0}
    assert resumed["counts"]["model_versions"] == {"copied": 2, "skipped": 1, "failed": 0}


def test_progress_goes_to_stderr_and_json_to_stdout(imported: dict[str, Any]) -> None:
    assert "churn-exp" in imported["stderr"]
    assert imported["summary"]["ok"] is True and not imported["summary"]["failures"]
    assert imported["stderr"].count("version churn/") == 2


def test_include_deleted_brings_deleted_runs_and_experiments_and_keeps_them_deleted(
        imported: dict[str, Any], file_store: tuple[Path, dict[str, Any]], destination: ServerProcess,
        clients: tuple[Any, Any]) -> None:
    _src, dst = clients
    # the destination given to opsloop itself (--url) is used when --to is not
    code, out, err = run_cli("--url", destination.url, "import-mlflow", "--from", str(file_store[0]),
                             "--include-deleted", "--json", env={"OPSLOOP_URL": None, "MLFLOW_TRACKING_URI": None})
    assert code == 0, err
    summary = json.loads(out)
    assert summary["counts"]["runs"] == {"copied": 2, "skipped": 2, "failed": 0}
    run = dst.get_run(summary["ids"]["runs"][file_store[1]["deleted_run"]])
    assert run.info.lifecycle_stage == "deleted" and run.data.params == {"oops": "1"}
    assert dst.get_experiment_by_name("old-exp").lifecycle_stage == "deleted"


def test_reading_a_file_store_leaves_no_mlflow_db_in_the_working_directory(
        file_store: tuple[Path, dict[str, Any]], destination: ServerProcess, tmp_path: Path) -> None:
    """MLflow's file registry reads versions through a client of the default tracking URI, which unset is
    ./mlflow.db: a user running the import in a project folder found a stray 1 MB database there."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "OPSLOOP_URL")}
    done = subprocess.run([str(Path(sys.executable).with_name("opsloop")), "import-mlflow", "--from",
                           str(file_store[0]), "--to", destination.url, "--dry-run", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout)["counts"]["model_versions"]
    assert counts["copied"] + counts["skipped"] == 3, done.stdout  # the registry was read
    assert sorted(p.name for p in tmp_path.iterdir()) == []
