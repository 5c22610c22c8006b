"""`opsloop models drift`: a feature without a verdict is not shown as checked and fine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.cli import main


def test_a_feature_not_judged_is_not_shown_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With no served rows yet, every feature said 'ok … not enough current values': no check was made."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.normal(size=200), "income": rng.normal(size=200)}).to_parquet("train.parquet")
    store = f"sqlite:///{tmp_path / 'mon.db'}"
    assert main(["models", "reference", "churn", "--data", "train.parquet", "--store", store]) == 0
    capsys.readouterr()
    assert main(["models", "drift", "churn", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    features = [line.split() for line in lines if "not enough current values" in line]
    assert [f[:2] for f in features] == [["-", "age"], ["-", "income"]], lines
