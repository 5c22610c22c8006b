"""`opsloop predict`: chunked batch scoring of Parquet and CSV files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from opsloop.errors import InvalidInputError
from opsloop.mlops.serving import load_model
from opsloop.mlops.serving.batch import predict_file

from .conftest import FEATURES, training_frame


@pytest.mark.parametrize("flavor", ["sklearn", "lightgbm", "pyfunc"])
def test_chunked_scoring_matches_scoring_all_at_once(models: dict[str, Path], tmp_path: Path, flavor: str) -> None:
    x, _ = training_frame(2500, seed=7)
    x["customer"] = [f"c{i}" for i in range(len(x))]
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    x.to_parquet(src, row_group_size=1000)
    model = load_model(models[flavor])
    stats = predict_file(model, src, dst, chunk_rows=300, keep_columns=["customer"])
    out = pd.read_parquet(dst)
    assert stats.rows == 2500 and stats.chunks >= 9
    assert list(out.columns) == ["customer", "prediction"]
    assert (out["customer"] == x["customer"]).all()
    assert np.allclose(out["prediction"], np.asarray(model.predict_frame(x[FEATURES])))
    assert pq.ParquetFile(dst).metadata.num_row_groups == stats.chunks


def test_csv_input_and_the_cli(models: dict[str, Path], tmp_path: Path) -> None:
    x, _ = training_frame(500, seed=8)
    src, dst = tmp_path / "in.csv", tmp_path / "out.parquet"
    x.to_csv(src, index=False)
    proc = subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()",
                           str(models["sklearn"]), "--input", str(src), "--output", str(dst), "--chunk-rows", "100"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "scored 500 rows" in proc.stderr
    assert len(pd.read_parquet(dst)) == 500


def test_missing_or_non_numeric_columns_are_clear_errors(models: dict[str, Path], tmp_path: Path) -> None:
    x, _ = training_frame(50)
    model = load_model(models["sklearn"])
    x.drop(columns=["tenure"]).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(InvalidInputError, match="tenure"):
        predict_file(model, tmp_path / "a.parquet", tmp_path / "o.parquet")
    x.assign(score="high").to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InvalidInputError, match="score"):
        predict_file(model, tmp_path / "b.parquet", tmp_path / "o.parquet")
    proc = subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()",
                           str(models["sklearn"]), "--input", str(tmp_path / "a.parquet"), "--output",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "tenure" in proc.stderr


def test_a_csv_missing_inputs_or_malformed_is_a_clear_error_too(models: dict[str, Path], tmp_path: Path) -> None:
    # The CSV reader's own errors (ArrowKeyError, ArrowInvalid) used to end `opsloop predict` in a traceback.
    x, _ = training_frame(50)
    model = load_model(models["sklearn"])
    x.drop(columns=["tenure"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InvalidInputError, match="tenure"):
        predict_file(model, tmp_path / "a.csv", tmp_path / "o.parquet")
    x.to_csv(tmp_path / "b.csv", index=False)
    with open(tmp_path / "b.csv", "a") as fh:
        fh.write("1,2\n")  # a short row
    with pytest.raises(InvalidInputError, match="b.csv"):
        predict_file(model, tmp_path / "b.csv", tmp_path / "o.parquet")
    proc = subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()",
                           str(models["sklearn"]), "--input", str(tmp_path / "a.csv"), "--output",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "tenure" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_file_the_model_rejects_is_a_clear_error(tmp_path: Path) -> None:
    # A model saved without a signature is given the file's columns as they are; scikit-learn's refusal of
    # unknown columns used to end `opsloop predict` in a traceback.
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    x, y = training_frame(50)
    mlflow.sklearn.save_model(LogisticRegression().fit(x, y), str(tmp_path / "unsigned"))
    x.rename(columns={"age": "years"}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(InvalidInputError, match="the model rejected the input") as err:
        predict_file(load_model(tmp_path / "unsigned"), tmp_path / "in.csv", tmp_path / "o.parquet")
    assert err.value.field == "input"
    proc = subprocess.run([sys.executable, "-c", "from opsloop.cli.serving import predict; predict()",
                           str(tmp_path / "unsigned"), "--input", str(tmp_path / "in.csv"), "--output",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: the model rejected the input"), proc.stderr


def test_an_output_named_csv_is_written_as_csv(models: dict[str, Path], tmp_path: Path) -> None:
    x, _ = training_frame(700, seed=9)
    x["customer"] = [f"c{i}" for i in range(len(x))]
    src, dst = tmp_path / "in.parquet", tmp_path / "scored.csv"
    x.to_parquet(src)
    model = load_model(models["sklearn"])
    predict_file(model, src, dst, chunk_rows=300, keep_columns=["customer"])
    out = pd.read_csv(dst)  # a Parquet file named .csv was written before
    assert list(out.columns) == ["customer", "prediction"] and len(out) == 700
    assert np.allclose(out["prediction"], np.asarray(model.predict_frame(x[FEATURES])))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
@pytest.mark.parametrize("flavor", ["sklearn", "unsigned"])
def test_an_unknown_keep_column_is_named_as_such(models: dict[str, Path], tmp_path: Path, suffix: str, flavor: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``--keep nope`` said "missing model inputs ['nope']" (the model needs no such column), and with a model
    saved without a signature it was a KeyError traceback once the first chunk was scored."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from opsloop.cli import main

    monkeypatch.chdir(tmp_path)  # no embedded store of the working directory in play
    x, y = training_frame(50)
    if flavor == "unsigned":
        mlflow.sklearn.save_model(LogisticRegression().fit(x, y), str(tmp_path / "unsigned"))
    model_dir = tmp_path / "unsigned" if flavor == "unsigned" else models[flavor]
    src = tmp_path / f"in.{suffix}"
    x.to_parquet(src) if suffix == "parquet" else x.to_csv(src, index=False)
    with pytest.raises(InvalidInputError, match="--keep names a column .* does not have: nope") as err:
        predict_file(load_model(model_dir), src, tmp_path / "o.parquet", keep_columns=["age", "nope"])
    assert err.value.field == "keep" and "missing model inputs" not in str(err.value)
    assert main(["predict", str(model_dir), "-i", str(src), "-o", str(tmp_path / "o.parquet"), "--keep", "nope"]) == 1
    err_text = capsys.readouterr().err
    assert err_text.startswith("error: --keep names a column") and "nope" in err_text and "age" in err_text
    assert not (tmp_path / "o.parquet").exists()


def test_scoring_a_model_folder_leaves_the_working_directorys_store_alone(
        models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`opsloop predict ./model` opened (and migrated) the embedded store of the folder it ran in, to build a
    models:/ resolver a model folder never needs: a store it could not open was a sqlite traceback."""
    from opsloop.cli import main

    (tmp_path / "opsloop-data").mkdir()
    broken = tmp_path / "opsloop-data" / "opsloop.db"
    broken.write_bytes(b"not a database " * 20)
    monkeypatch.chdir(tmp_path)
    x, _ = training_frame(30)
    x.to_csv(tmp_path / "in.csv", index=False)
    assert main(["predict", str(models["sklearn"]), "-i", "in.csv", "-o", "out.parquet"]) == 0, capsys.readouterr()
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 30
    assert broken.read_bytes() == b"not a database " * 20


def test_a_kept_column_named_as_the_prediction_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    """`--keep age --prediction-column age` wrote two columns named age."""
    x, _ = training_frame(50)
    x.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(InvalidInputError, match="--keep column 'age' has the name of a prediction column") as err:
        predict_file(load_model(models["sklearn"]), tmp_path / "in.parquet", tmp_path / "out.csv",
                     keep_columns=["age"], prediction_column="age")
    assert err.value.field == "prediction_column" and not (tmp_path / "out.csv").exists()


def test_a_run_failing_midway_leaves_no_partial_output_and_the_earlier_one_intact(tmp_path: Path) -> None:
    """The chunks scored before a failure were left as a valid, shorter file (over the previous output) that
    looked like a complete result."""
    import mlflow.pyfunc

    def build() -> mlflow.pyfunc.PythonModel:
        class RefusesOld(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                if (model_input["age"] > 100).any():
                    raise ValueError("age out of range")
                return model_input["age"] * 2

        return RefusesOld()

    x, _ = training_frame(1000)
    mlflow.pyfunc.save_model(str(tmp_path / "model"), python_model=build(), input_example=x.head(2))
    x.loc[900, "age"] = 1000.0  # in the last chunk
    x.to_parquet(tmp_path / "in.parquet", row_group_size=100)
    dst = tmp_path / "scored.parquet"
    dst.write_bytes(b"yesterday's scores")
    with pytest.raises(InvalidInputError, match="age out of range"):
        predict_file(load_model(tmp_path / "model"), tmp_path / "in.parquet", dst, chunk_rows=100)
    assert dst.read_bytes() == b"yesterday's scores"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "model", "scored.parquet"]
    x.loc[900, "age"] = 1.0
    x.to_parquet(tmp_path / "in.parquet", row_group_size=100)
    predict_file(load_model(tmp_path / "model"), tmp_path / "in.parquet", dst, chunk_rows=100)
    assert len(pd.read_parquet(dst)) == 1000


def test_a_csv_whose_whole_numbers_come_first_reads_its_fractions_further_on(models: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    """CSV columns were typed from the first 4 MB block: a double input whose first values were whole numbers
    was int64, and '0.5' further on failed the run ('CSV conversion error to int64')."""
    rows = 800_000  # past the reader's first block
    whole = pd.DataFrame({name: np.arange(rows - 1) % (i + 2) for i, name in enumerate(FEATURES)})
    whole.to_csv(tmp_path / "in.csv", index=False)
    with open(tmp_path / "in.csv", "a") as fh:
        fh.write(",".join(["0.5"] * len(FEATURES)) + "\n")
    model = load_model(models["sklearn"])
    stats = predict_file(model, tmp_path / "in.csv", tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert stats.rows == rows and len(out) == rows
    last = pd.DataFrame([[0.5] * len(FEATURES)], columns=FEATURES)
    assert out["prediction"].iloc[-1] == model.predict_frame(last)[0]
