"""A server killed in the middle of an upload: the temporary file it leaves is removed when a server next opens
the artifact folder, once it is a day old."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import httpx
from tests.conftest import wait_until


def _stale_uploads(root) -> list:  # noqa: ANN001
    return sorted(root.rglob(".upload-*"))


def test_upload_cut_off_by_a_killed_server_is_cleaned_up_at_a_later_start(opsloop_server, tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    server = opsloop_server(data)
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"x" * 65536
        release.wait(60)  # the client stalls; the server dies before the upload ends
        yield b"y"

    url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/r1/artifacts/model.bin"
    upload = threading.Thread(target=lambda: _put_ignoring_errors(url, body()), daemon=True)
    upload.start()
    leftovers = wait_until(lambda: _stale_uploads(data), timeout=30)
    server.kill()
    release.set()
    upload.join(30)
    assert len(leftovers) == 1 and leftovers[0].exists()

    young = leftovers[0].with_name(".upload-young123")  # as another server's upload in progress
    young.write_bytes(b"partial")
    old = time.time() - 2 * 86400
    os.utime(leftovers[0], (old, old))
    opsloop_server(data)
    wait_until(lambda: not leftovers[0].exists(), timeout=30)
    assert young.exists()
    assert not (leftovers[0].parent / "model.bin").exists()


def _put_ignoring_errors(url: str, content: Iterator[bytes]) -> None:
    try:
        httpx.put(url, content=content, timeout=60)
    except httpx.HTTPError:
        pass  # the server was killed
