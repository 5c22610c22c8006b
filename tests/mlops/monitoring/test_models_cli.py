"""`opsloop models reference | drift | performance | signals` against a SQLite monitoring store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from opsloop.cli.models import models
from opsloop.mlops.monitoring import PredictionSample, open_store


def test_drift_is_visible_through_the_cli(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    ref.to_parquet(tmp_path / "ref.parquet")
    url = f"sqlite:///{tmp_path / 'mon.db'}"
    runner = CliRunner()
    r = runner.invoke(models, ["reference", "fraud", "--data", str(tmp_path / "ref.parquet"), "--store", url])
    assert r.exit_code == 0 and "2000 rows" in r.output
    store = open_store(url)
    store.add_samples([PredictionSample("fraud", f"r{i}", 0, float(i), {"x": float(v) + 2, "y": float(w)}, 0)
                       for i, (v, w) in enumerate(rng.normal(size=(500, 2)))])
    r = runner.invoke(models, ["drift", "fraud", "--store", url])
    assert r.exit_code == 0, r.output
    assert "DRIFT x" in r.output and "ok    y" in r.output and "1 signal(s)" in r.output
    r = runner.invoke(models, ["signals", "--model", "fraud", "--store", url, "--json"])
    doc = json.loads(r.output.splitlines()[0])
    assert doc["kind"] == "model_drift" and doc["labels"] == {"model": "fraud", "feature": "x"}
    r = runner.invoke(models, ["signals", "--store", url])
    assert "firing" in r.output and "feature 'x' of model fraud drifted" in r.output
    r = runner.invoke(models, ["performance", "fraud", "--store", url])
    assert r.exit_code == 0 and "no labelled samples yet" in r.output


def test_drift_without_reference_is_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(models, ["drift", "ghost", "--store", f"sqlite:///{tmp_path / 'm.db'}"])
    assert r.exit_code == 1 and "no drift reference" in r.output


def test_bounds_that_cannot_hold_are_refused_by_the_cli(tmp_path: Path) -> None:
    """--min-accuracy 2 (breached for ever) and --limit -1 (every signal) were taken as given with --store."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    runner = CliRunner()
    for args in (["performance", "fraud", "--store", url, "--min-accuracy", "2"],
                 ["performance", "fraud", "--store", url, "--max-rmse", "-1"],
                 ["signals", "--store", url, "--limit", "-1"]):
        r = runner.invoke(models, args)
        assert r.exit_code == 2 and "Invalid value" in r.output, (args, r.output)
