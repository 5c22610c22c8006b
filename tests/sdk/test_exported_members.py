"""The SDK's public names are a deliberate list; ``import opsloop`` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import opsloop
import opsloop.sdk


def test_sdk_public_names() -> None:
    assert opsloop.sdk.__all__ == ["Client", "HttpTransport", "LocalTransport", "MetricBatcher", "MockTransport",
                                   "Retries", "Run", "Transport", "start_run"]
    assert all(hasattr(opsloop.sdk, name) for name in opsloop.sdk.__all__)


def test_package_exports_the_sdk_lazily() -> None:
    assert opsloop.__all__ == ["Client", "Run", "__version__", "start_run"]
    assert opsloop.start_run is opsloop.sdk.start_run and opsloop.Client is opsloop.sdk.Client


def test_import_opsloop_loads_no_heavy_modules() -> None:
    code = ("import sys, opsloop; heavy = [m for m in ('pandas', 'sklearn', 'sqlalchemy', 'httpx', 'opsloop.sdk') "
            "if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
