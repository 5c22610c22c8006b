"""Valid scoring requests in every input format, mutated at random (a value swapped for another type,
a huge or nested value): each answer is a 200 or a 4xx naming the problem, never a 5xx. Seeded."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests._mutations import mutate

from opsloop.mlops.serving import ModelSlots, ScoringApp, load_model

from .conftest import FEATURES

MUTATIONS = 150  # per input format and flavour
VALUES = [None, "", "x" * 3000, -1, 0, 2**70, -(2**70), 1.5, 1e308, True, [], {}, [1, "a", None],
          {"a": {"b": []}}, "NaN", [[1]], [[None, None]], FEATURES, [FEATURES]]
ROWS = [[0.5, -1.0, 0.3, 2.0], [-0.2, 0.4, -1.1, 0.0]]
RECORDS = [dict(zip(FEATURES, r, strict=True)) for r in ROWS]
SEEDS = [
    {"dataframe_split": {"columns": FEATURES, "data": ROWS}},
    {"dataframe_records": RECORDS},
    {"instances": RECORDS},
    {"inputs": {f: [r[i] for r in ROWS] for i, f in enumerate(FEATURES)}},
]


@pytest.mark.parametrize("flavor", ["sklearn", "pyfunc"])
def test_mutated_requests_never_get_a_server_error(models: dict[str, Path], flavor: str) -> None:
    client = TestClient(ScoringApp(ModelSlots(load_model(models[flavor]))))
    r = random.Random(f"{flavor}-20261124")
    failures = []
    for seed in SEEDS:
        assert client.post("/invocations", json=seed).status_code == 200
        for _ in range(MUTATIONS):
            body = mutate(seed, r, VALUES)
            resp = client.post("/invocations", content=json.dumps(body), headers={"content-type": "application/json"})
            if resp.status_code >= 500:
                failures.append(f"{json.dumps(body)[:300]} -> {resp.text[:200]}")
    assert not failures, "\n".join(failures[:5])
