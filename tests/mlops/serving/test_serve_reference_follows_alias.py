"""A dedicated `opsloop serve models:/NAME@champion --reference DATA` follows its alias as the server's
references do: when @champion moves to a new version, the reference data is profiled again with the new
model's predictions (its traffic's prediction drift was measured against the old model's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from tests._models import register_sklearn_champion
from tests.conftest import ServerProcess, wait_until


def _reference(url: str) -> dict:
    r = httpx.get(f"{url}/monitoring/reference", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_reference_of_a_served_alias_follows_it_when_it_moves(
        tmp_path: Path, server: ServerProcess, serve_process: Callable[..., tuple[str, object]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    assert register_sklearn_champion(server.url, "churn") == "1"
    rng = np.random.default_rng(3)
    data = tmp_path / "train.csv"
    pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)}).to_csv(data, index=False)
    url, _ = serve_process("models:/churn@champion", "--monitor-store", f"sqlite:///{tmp_path / 'mon.db'}",
                           "--reference", str(data), "--refresh-seconds", "0.5", "--workers", "1")
    first = httpx.get(f"{url}/health").json()["model"]["model_uuid"]
    assert _reference(url)["predictions"] is True

    assert register_sklearn_champion(server.url, "churn") == "2"  # @champion moves to version 2
    moved = wait_until(lambda: (u := httpx.get(f"{url}/health").json()["model"]["model_uuid"]) != first and u)
    origin = wait_until(lambda: _reference(url)["origin"])
    assert origin["model_uuid"] == moved and origin["alias"] == "champion"
    assert origin["set"] == "followed" and origin["data"] == str(data) and origin["samples_since"]
    assert _reference(url)["rows"] == 200 and _reference(url)["predictions"] is True
