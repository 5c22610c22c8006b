from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.aiops.ingestion._helpers import aiops_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with aiops_client(tmp_path) as c:
        yield c
