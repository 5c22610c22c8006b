"""Shadow and split traffic, and following a registry alias that moves or disappears."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.monitoring import InMemoryMonitoringStore, ModelMonitor, PredictionSampler
from opsloop.mlops.serving import ModelSlots, ScoringApp, TrafficPolicy, load_model
from opsloop.mlops.serving.watch import AliasWatcher

from .conftest import FEATURES

BODY = {"dataframe_split": {"columns": FEATURES, "data": [[0.5, -1.0, 0.3, 2.0], [3.0, 3.0, -3.0, 1.0]]}}


def test_shadow_callers_see_the_champion_and_both_outputs_are_recorded(models: dict[str, Path]) -> None:
    champion, challenger = load_model(models["sklearn"]), load_model(models["regressor"])
    store = InMemoryMonitoringStore()
    sampler = PredictionSampler(store, "m", rate=1.0)
    app = ScoringApp(ModelSlots(champion, challenger, TrafficPolicy("shadow")), recorder=sampler)
    client = TestClient(app)
    direct = TestClient(ScoringApp(ModelSlots(champion))).post("/invocations", json=BODY).json()
    r = client.post("/invocations", json=BODY, headers={"x-request-id": "req-1"})
    assert r.json() == direct and r.headers["x-opsloop-variant"] == "champion"
    sampler.flush()
    variants = sorted(s.variant for s in store.list_samples("m"))
    assert variants == ["challenger", "challenger", "champion", "champion"]
    comparison = ModelMonitor(store, "m").comparison()
    assert comparison["pairs"] == 2 and "agreement" in comparison
    assert 'variant="challenger"} 2' in client.get("/metrics").text


def test_split_sends_the_weighted_share_to_the_challenger(models: dict[str, Path]) -> None:
    champion, challenger = load_model(models["sklearn"]), load_model(models["sklearn_b"])
    client = TestClient(ScoringApp(ModelSlots(champion, challenger, TrafficPolicy("split", 0.3), seed=1)))
    seen = [client.post("/invocations", json=BODY).headers["x-opsloop-variant"] for _ in range(200)]
    assert 30 < seen.count("challenger") < 90
    all_in = TestClient(ScoringApp(ModelSlots(champion, challenger, TrafficPolicy("split", 1.0))))
    assert all_in.post("/invocations", json=BODY).headers["x-opsloop-variant"] == "challenger"


def test_bad_traffic_settings_are_rejected(models: dict[str, Path]) -> None:
    with pytest.raises(InvalidInputError):
        TrafficPolicy("canary")
    with pytest.raises(InvalidInputError):
        TrafficPolicy("split", 1.5)
    with pytest.raises(InvalidInputError, match="needs a challenger"):
        ModelSlots(load_model(models["sklearn"]), None, TrafficPolicy("shadow"))


class FakeRegistry:
    """A resolver over a dict of alias URIs, as the opsloop server's resolver would behave."""

    def __init__(self, aliases: dict[str, Path]) -> None:
        self.aliases = aliases

    def __call__(self, uri: str) -> Path:
        if uri not in self.aliases:
            raise NotFoundError(f"no model version for {uri}", field="model_uri")
        return self.aliases[uri]


def test_alias_move_hot_swaps_and_deleted_alias_keeps_serving(models: dict[str, Path]) -> None:
    registry = FakeRegistry({"models:/churn@champion": models["sklearn"]})
    model = load_model("models:/churn@champion", registry)
    slots = ModelSlots(model)
    watcher = AliasWatcher(slots, "models:/churn@champion", registry, interval=0)
    app = ScoringApp(slots, status=lambda: {"aliases": [watcher.status()["alias"]]})
    client = TestClient(app)
    assert watcher.check_once() is False
    registry.aliases["models:/churn@champion"] = models["regressor"]
    assert watcher.check_once() is True
    assert client.get("/health").json()["model"]["model_uuid"] == slots.champion.model_uuid
    assert isinstance(client.post("/invocations", json=BODY).json()["predictions"][0], float)
    del registry.aliases["models:/churn@champion"]  # alias deleted mid-traffic
    assert watcher.check_once() is False
    r = client.post("/invocations", json=BODY)
    assert r.status_code == 200
    alias = client.get("/health").json()["aliases"][0]
    assert alias["state"] == "stale" and "no model version" in alias["error"]


def test_unknown_alias_at_startup_is_a_not_found_error(models: dict[str, Path]) -> None:
    with pytest.raises(NotFoundError):
        load_model("models:/churn@nobody", FakeRegistry({}))


def test_registry_app_serves_any_alias_and_404s_unknown_or_deleted(models: dict[str, Path]) -> None:
    from opsloop.mlops.serving import RegistryScoringApp

    registry = FakeRegistry({"models:/churn@champion": models["sklearn"], "models:/churn/2": models["regressor"]})
    client = TestClient(RegistryScoringApp(registry, refresh_seconds=0))
    assert len(client.post("/churn/champion/invocations", json=BODY).json()["predictions"]) == 2
    assert isinstance(client.post("/churn/2/invocations", json=BODY).json()["predictions"][0], float)
    r = client.post("/churn/challenger/invocations", json=BODY)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    del registry.aliases["models:/churn@champion"]  # deleted mid-traffic
    assert client.post("/churn/champion/invocations", json=BODY).status_code == 404
    assert client.post("/churn/2/invocations", json=BODY).status_code == 200
    assert client.get("/churn/2/health").json()["model"]["uri"] == "models:/churn/2"
    assert client.get("/nope").status_code == 404


def test_concurrent_requests_share_a_model_call_with_the_same_answers(models: dict[str, Path]) -> None:
    import asyncio

    import httpx
    import numpy as np

    app = ScoringApp(ModelSlots(load_model(models["sklearn"])))
    rng = np.random.default_rng(0)
    bodies = [{"dataframe_split": {"columns": FEATURES, "data": rng.normal(size=(n, 4)).round(4).tolist()}}
              for n in (1, 3, 1, 7, 2) * 4]
    bodies.insert(5, {"dataframe_split": {"columns": FEATURES, "data": [[1, "bad", 3, 4]]}})

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await asyncio.gather(*(c.post("/invocations", json=b) for b in bodies))

    together = asyncio.run(go())
    alone = TestClient(ScoringApp(ModelSlots(load_model(models["sklearn"])), micro_batching=False))
    for body, r in zip(bodies, together, strict=True):
        expected = alone.post("/invocations", json=body)
        assert r.status_code == expected.status_code and r.json() == expected.json()
    assert app.batcher is not None and app.batcher.batched_requests > 0


def test_the_server_samples_requests_to_the_challenger_alias_as_the_challenger(models: dict[str, Path]) -> None:
    """A challenger tried at /serving/NAME/challenger was sampled as the champion: its rows counted in the
    model's drift and live performance (a probe with odd data opened a drift incident and a retrain)."""
    from opsloop.mlops.serving import RegistryScoringApp

    store = InMemoryMonitoringStore()
    sampler = PredictionSampler(store, "", rate=1.0)
    registry = FakeRegistry({"models:/churn@champion": models["sklearn"],
                             "models:/churn@challenger": models["sklearn"], "models:/churn/2": models["sklearn"]})
    client = TestClient(RegistryScoringApp(registry, refresh_seconds=0, recorder_for=sampler.for_model))
    variants = {}
    for ref in ("champion", "challenger", "2"):
        r = client.post(f"/churn/{ref}/invocations", json=BODY)
        assert r.status_code == 200, r.text
        variants[ref] = r.headers["x-opsloop-variant"]
    assert variants == {"champion": "champion", "challenger": "challenger", "2": "champion"}
    sampler.flush()
    assert len(store.list_samples("churn", variant="champion")) == 4
    assert len(store.list_samples("churn", variant="challenger")) == 2
