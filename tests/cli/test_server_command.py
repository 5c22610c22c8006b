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


def test_it_says_an_ipv6_address_it_serves_on_as_a_url(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        port = probe.getsockname()[1]
    proc = subprocess.Popen([OPSLOOP_BIN, "server", "--host", "::1", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first line it prints
    finally:
        proc.terminate()
        proc.wait(30)
    assert line.startswith(f"opsloop serving on http://[::1]:{port} "), line
