"""``opsloop server`` refuses an address it cannot listen on before it says it serves there."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

OPSLOOP_BIN = str(Path(sys.executable).with_name("opsloop"))


@pytest.mark.parametrize("busy", [True, False], ids=["port in use", "host not on this machine"])
def test_an_address_that_cannot_be_listened_on_is_one_error_line(busy: bool, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = ("127.0.0.1", taken.getsockname()[1]) if busy else ("203.0.113.7", 0)
        done = subprocess.run([OPSLOOP_BIN, "server", "--host", host, "--port", str(port), "--data-dir",
                               str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: cannot listen on {host}:{port}: "), done.stderr
    assert "serving on" not in done.stderr and "Traceback" not in done.stderr
