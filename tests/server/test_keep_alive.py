"""An idle client connection stays open longer than senders wait between requests: Prometheus
remote_write sends every 5 s on the connections it keeps, and a server closing them after 5 s idle (the
HTTP server's default) made it log "connection reset by peer" and resend about once a minute."""

from __future__ import annotations

import socket
import time


def _get(conn: socket.socket, host: str) -> bytes:
    conn.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
    conn.settimeout(30)
    answer = b""
    while not answer.endswith(b"OK"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_connection_idle_for_longer_than_a_remote_write_interval_is_still_open(server) -> None:  # noqa: ANN001
    host = f"127.0.0.1:{server.port}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        assert _get(conn, host).startswith(b"HTTP/1.1 200")
        time.sleep(7)  # more than remote_write's 5 s and the 5 s an HTTP server closes idle connections after
        assert _get(conn, host).startswith(b"HTTP/1.1 200"), "the server closed the idle connection"
