"""A scoring request is counted before its answer is sent: whoever reads the counters once the caller has
its answer (another worker's /metrics, the deployments API, a health check) finds it there."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from opsloop.mlops.serving.app import ScoringApp
from opsloop.mlops.serving.loading import load_model
from opsloop.mlops.serving.traffic import ModelSlots

GOOD = b'{"dataframe_split": {"columns": ["age", "income", "score", "tenure"], "data": [[1, 2, 3, 4]]}}'


async def _post(app: ScoringApp, body: bytes, seen: list[tuple[int, dict[str, int]]]) -> None:
    """POST /invocations; note the counters as they are when the answer starts to go out."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.append((message["status"], app.metrics.snapshot().status))

    scope = {"type": "http", "path": "/invocations", "method": "POST",
             "headers": [(b"content-type", b"application/json")]}
    await app(scope, receive, send)


def test_a_request_is_counted_before_its_answer_is_sent(models: dict[str, Path]) -> None:
    app = ScoringApp(ModelSlots(load_model(models["sklearn"])), micro_batching=False)
    seen: list[tuple[int, dict[str, int]]] = []
    with ThreadPoolExecutor(1) as pool:  # a loop of its own: an earlier test's may still run on this thread
        for body in (GOOD, b"{not json", GOOD):
            pool.submit(asyncio.run, _post(app, body, seen)).result()
    assert seen == [(200, {"2xx": 1, "4xx": 0, "5xx": 0}), (400, {"2xx": 1, "4xx": 1, "5xx": 0}),
                    (200, {"2xx": 2, "4xx": 1, "5xx": 0})]
