"""Random requests to every MLflow REST route (tracking, registry, logged models, traces) with
ill-typed, empty, huge and hostile values: none may get a 5xx. Seeded, so a failure reproduces."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings

API = "/api/2.0/mlflow"
FIELDS = ["run_id", "run_uuid", "experiment_id", "experiment_ids", "key", "value", "timestamp", "step", "name",
          "new_name", "version", "alias", "filter", "max_results", "page_token", "order_by", "tags", "metrics",
          "params", "description", "stage", "source", "start_time", "end_time", "status", "run_name", "metric_key",
          "run_ids", "start_step", "end_step", "datasets", "models", "model_id", "trace_ids", "request_id",
          "artifact_location", "archive_existing_versions", "view_type", "run_view_type", "path", "inputs",
          "trace", "max_timestamp_millis", "max_traces", "lifecycle_stage", "locations", "include_spans"]
EXAMPLES = 25  # random requests per route and method
NUMERIC = ["max_results", "timestamp", "step", "start_time", "end_time", "version", "start_step", "end_step",
           "max_timestamp_millis", "max_traces", "view_type", "run_view_type"]
EDGES = [2**70, -(2**70), 1e308, -1, 0, "9" * 30, [], {}]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[Any]]]:
    app = create_app(load_settings({"storage": {"data_dir": str(tmp_path_factory.mktemp("fuzz"))}}, environ={}))
    with TestClient(app, raise_server_exceptions=False) as c:
        exp = c.post(API + "/experiments/create", json={"name": "fuzz"}).json()["experiment_id"]
        run = c.post(API + "/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
        c.post(API + "/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1, "step": 0})
        c.post(API + "/registered-models/create", json={"name": "fuzz-model"})
        c.post(API + "/model-versions/create", json={"name": "fuzz-model", "source": f"runs:/{run}/m", "run_id": run})
        model = c.post(API + "/logged-models", json={"experiment_id": exp, "name": "lm"}).json()["model"]["info"]
        yield c, [run, exp, "fuzz-model", "1", model["model_id"]]


def _routes(app: Any) -> list[tuple[str, str]]:
    out = []

    def walk(routes: list[Any], prefix: str = "") -> None:
        for r in routes:
            if hasattr(r, "routes") and not hasattr(r, "endpoint"):
                walk(r.routes, prefix + getattr(r, "path", ""))
            elif (prefix + getattr(r, "path", "")).startswith(API + "/"):
                out.extend((prefix + r.path, m) for m in sorted(set(r.methods or ()) - {"HEAD"}))

    walk(app.routes)
    return out


def _value(r: random.Random, known: list[Any]) -> Any:
    return r.choice([None, "", "x" * r.choice([1, 300, 9000]), -1, 0, 2**70, -(2**70), 1.5, 1e308, True, [], {},
                     ["a", 1, None], {"a": 1}, "\u0000\ud7ff", "../../etc", "a' OR '1'='1", *known])


def _body(r: random.Random, known: list[Any]) -> dict[str, Any]:
    body = {f: _value(r, known) for f in r.sample(FIELDS, r.randrange(1, 8))}
    for key in ("tags", "metrics", "params"):
        if r.random() < 0.3:
            body[key] = [{"key": _value(r, known), "value": _value(r, known), "timestamp": _value(r, known),
                          "step": _value(r, known)} for _ in range(r.randrange(3))]
    return body


def _send(client: TestClient, method: str, url: str, body: dict[str, Any]) -> str | None:
    if method == "GET":
        params = {k: (json.dumps(v) if isinstance(v, (list, dict)) else "" if v is None else str(v))[:1500]
                  for k, v in body.items()}
        resp = client.get(url, params=params)
    else:
        resp = client.request(method, url, json=body)
    if resp.status_code < 500:
        return None
    return f"{method} {url} {json.dumps(body, default=str)[:300]} -> {resp.text[:200]}"


def test_no_mlflow_route_answers_a_random_request_with_a_server_error(seeded: tuple[TestClient, list[Any]]) -> None:
    client, known = seeded
    run, exp = known[0], known[1]
    r = random.Random(20261124)
    failures = []
    for path, method in _routes(client.app):
        url = path.replace("{model_id}", known[-1]).replace("{tag_key}", "k").replace("{trace_id}", "tr-1")
        # every numeric field alone at the edges, beside valid ids
        for field in NUMERIC:
            for edge in EDGES:
                failures.append(_send(client, method, url, {"run_id": run, "experiment_id": exp,
                                                            "experiment_ids": [exp], "name": "fuzz-model",
                                                            field: edge}))
        for _ in range(EXAMPLES):
            url = (path.replace("{model_id}", r.choice([known[-1], "m-none", "x" * 300]))
                   .replace("{tag_key}", "k").replace("{trace_id}", r.choice(["tr-1", "x"])))
            failures.append(_send(client, method, url, _body(r, known)))
    found = [f for f in failures if f]
    assert not found, "\n".join(found[:10])


def test_the_routes_were_found(seeded: tuple[TestClient, list[Any]]) -> None:
    assert len(_routes(seeded[0].app)) > 60
