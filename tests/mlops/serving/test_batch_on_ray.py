"""Batch scoring on Ray Data gives what the one-process scorer gives, file for file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.serving import load_model
from opsloop.mlops.serving.batch_on_ray import predict_on_ray

from .conftest import FEATURES, training_frame


@pytest.fixture(scope="module")
def local_ray():  # noqa: ANN201 - one Ray for the module (starting one takes seconds)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("flavor", ["sklearn", "pyfunc"])
def test_ray_scores_a_folder_of_files_as_one_process_does(models: dict[str, Path], tmp_path: Path, local_ray: None,
                                                         flavor: str) -> None:
    x, _ = training_frame(3000, seed=5)
    x["customer"] = [f"c{i}" for i in range(len(x))]
    folder = tmp_path / "in"
    folder.mkdir()
    for part in range(3):
        x.iloc[part * 1000:(part + 1) * 1000].to_parquet(folder / f"part-{part}.parquet")
    model = load_model(models[flavor])
    stats = predict_on_ray(model, str(folder), str(tmp_path / "out"), keep_columns=["customer"], batch_rows=400)
    out = pd.read_parquet(tmp_path / "out").sort_values("customer", key=lambda c: c.str[1:].astype(int))
    assert stats.rows == 3000 and stats.chunks >= 1
    assert list(out.columns) == ["customer", "prediction"]
    assert list(out["customer"]) == list(x["customer"])
    assert np.allclose(out["prediction"], np.asarray(model.predict_frame(x[FEATURES])))


def test_missing_columns_and_inputs_are_named_before_scoring(models: dict[str, Path], tmp_path: Path,
                                                            local_ray: None) -> None:
    x, _ = training_frame(50)
    src = tmp_path / "in.csv"
    x.drop(columns=[FEATURES[0]]).to_csv(src, index=False)
    model = load_model(models["sklearn"])
    with pytest.raises(InvalidInputError) as caught:
        predict_on_ray(model, str(src), str(tmp_path / "out"))
    assert caught.value.field == FEATURES[0]
    x.to_csv(src, index=False)
    with pytest.raises(InvalidInputError) as caught:
        predict_on_ray(model, str(src), str(tmp_path / "out"), keep_columns=["nope"])
    assert caught.value.field == "keep"
    with pytest.raises(NotFoundError):
        predict_on_ray(model, str(tmp_path / "missing.parquet"), str(tmp_path / "out"))
    (tmp_path / "taken").write_text("")
    with pytest.raises(InvalidInputError) as caught:
        predict_on_ray(model, str(src), str(tmp_path / "taken"))
    assert caught.value.field == "output"
    assert not (tmp_path / "out").exists()  # nothing written for refused calls


def test_opsloop_predict_with_ray_scores_a_folder(models: dict[str, Path], tmp_path: Path, local_ray: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.cli import main

    x, _ = training_frame(600, seed=9)
    folder = tmp_path / "in"
    folder.mkdir()
    for part in range(2):
        x.iloc[part * 300:(part + 1) * 300].to_csv(folder / f"part-{part}.csv", index=False)
    out = tmp_path / "scored"
    code = main(["predict", str(models["sklearn"]), "--input", str(folder), "--output", str(out), "--ray",
                 "--replicas", "1"])
    assert code == 0, capsys.readouterr().err
    assert "scored 600 rows" in capsys.readouterr().err
    assert len(pd.read_parquet(out)) == 600
    # without --ray a folder is a usage error that says what to do
    assert main(["predict", str(models["sklearn"]), "--input", str(folder), "--output", str(tmp_path / "o.parquet")]) == 2
    assert "score a folder with --ray" in capsys.readouterr().err
