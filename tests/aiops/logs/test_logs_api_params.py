"""The log templates API refuses a ``since`` that is no finite time, naming it (it gave empty series)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.aiops.ingestion._helpers import API, aiops_client


@pytest.mark.parametrize("since", ["nan", "inf", "-inf"])
def test_templates_since_must_be_a_finite_time(tmp_path: Path, since: str) -> None:
    with aiops_client(tmp_path) as client:
        r = client.get(API + "/logs/templates", params={"since": since})
        assert r.status_code == 422 and r.json()["field"] == "since", r.text
        assert client.get(API + "/logs/templates", params={"since": "0"}).status_code == 200
