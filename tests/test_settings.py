"""Settings are read once from file, environment and flags, and bad values are clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.errors import InvalidInputError
from opsloop.settings import load_settings


def test_priority_is_flags_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "opsloop.toml"
    cfg.write_text('[server]\nport = 7000\nhost = "0.0.0.0"\n[storage]\ndata_dir = "/srv/data"\n')
    s = load_settings(environ={"OPSLOOP_PORT": "7100"}, config_file=cfg)
    assert (s.server.port, s.server.host, str(s.storage.data_dir)) == (7100, "0.0.0.0", "/srv/data")
    s = load_settings({"server": {"port": 7200}}, environ={"OPSLOOP_PORT": "7100"}, config_file=cfg)
    assert s.server.port == 7200
    s = load_settings(environ={"OPSLOOP_SERVER__MAX_BODY_BYTES": "2048"}, config_file=tmp_path / "none.toml")
    assert s.server.max_body_bytes == 2048


def test_defaults_are_the_embedded_store(tmp_path: Path) -> None:
    s = load_settings(environ={"OPSLOOP_DATA_DIR": str(tmp_path)}, config_file=tmp_path / "none.toml")
    assert s.storage.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/opsloop.db"
    assert s.storage.resolved_artifact_root == str((tmp_path / "artifacts").resolve())
    assert s.runbooks.max_concurrent == 2


def test_runbook_concurrency_is_a_setting(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    assert load_settings(environ={"OPSLOOP_RUNBOOKS__MAX_CONCURRENT": "5"}, config_file=none).runbooks.max_concurrent == 5
    with pytest.raises(InvalidInputError, match="runbooks.max_concurrent"):
        load_settings(environ={"OPSLOOP_RUNBOOKS__MAX_CONCURRENT": "0"}, config_file=none)


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="server.port") as info:
        load_settings(environ={"OPSLOOP_PORT": "abc"}, config_file=tmp_path / "none.toml")
    assert info.value.field == "server.port"
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport=")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_settings(environ={}, config_file=bad)


def test_the_url_other_hosts_reach_the_server_at(tmp_path: Path) -> None:
    """``server.advertise_url`` when set; else the bind address when other hosts can reach it."""
    import socket

    none = tmp_path / "none.toml"

    def url(**server: object) -> str | None:
        return load_settings({"server": server}, environ={}, config_file=none).server.reachable_url()

    assert url(advertise_url="http://opsloop-1.internal:5000/") == "http://opsloop-1.internal:5000"
    assert url(host="0.0.0.0", port=5001) == f"http://{socket.gethostname()}:5001"
    assert url(host="10.0.0.5", port=5002) == "http://10.0.0.5:5002"
    assert url(host="fd00::5", port=5003) == "http://[fd00::5]:5003"
    assert url() is None and url(host="localhost") is None  # loopback: no other host reaches it
    local = load_settings({"server": {"host": "0.0.0.0", "port": 5004}}, environ={}, config_file=none).server
    assert local.local_url() == "http://127.0.0.1:5004"  # what a runbook's program on this host is given
    with pytest.raises(InvalidInputError, match="server.advertise_url"):
        url(advertise_url="ftp://x")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "invalid setting server.port"),
        (["--database-url", "mysql://db/x"], "unsupported database URL"),
        (["--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/x"], "cannot open database"),
        (["--data-dir", "/proc/no-such-folder/data"], "cannot create the data folder"),
        (["--advertise-url", "10.0.0.5:5000"], "invalid setting server.advertise_url"),
    ],
)
def test_server_start_errors_are_messages_not_tracebacks(tmp_path: Path, args: list[str], message: str) -> None:
    exe = str(Path(sys.executable).with_name("opsloop"))
    done = subprocess.run([exe, "server", "--data-dir", str(tmp_path), *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
