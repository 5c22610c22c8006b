"""The severity of a Loki entry comes from its stream's level label; Loki's own ``unknown`` is no level."""

from __future__ import annotations

import time

import pytest
from tests.aiops.ingestion._helpers import signals


@pytest.mark.parametrize(("stream", "severity"), [
    ({"service_name": "web", "detected_level": "unknown"}, "info"),
    ({"service_name": "web", "level": "Unknown", "detected_level": "error"}, "error"),
    ({"service_name": "web", "level": "warn"}, "warning"),
    ({"service_name": "web", "lvl": "eror"}, "error"),  # log15's four-letter levels (go-ethereum…)
    ({"service_name": "web", "lvl": "dbug"}, "info"),
])
def test_loki_unknown_level_is_no_level(client, stream: dict, severity: str) -> None:  # noqa: ANN001
    push = {"streams": [{"stream": stream, "values": [[str(time.time_ns()), "GET /cart 200"]]}]}
    assert client.post("/loki/api/v1/push", json=push).status_code == 204
    assert [s["severity"] for s in signals(client, kind="log")] == [severity]
