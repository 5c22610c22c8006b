"""What ``opsloop import-mlflow`` says when it cannot start: a message and exit code 2, never a traceback,
and nothing written to a source that turns out not to be an MLflow store."""

from __future__ import annotations

import http.server
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.migration.conftest import ROOT, run_cli


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """A plain web server (not MLflow): it answers 404 pages."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _refused(source: str, *extra: str) -> str:
    code, out, err = run_cli("import-mlflow", "--from", source, "--to", "http://127.0.0.1:9", *extra)
    assert code == 2, (out, err)
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def test_an_unreachable_source_is_a_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert f"cannot reach the source {url}" in _refused(url)


def test_a_web_server_that_is_not_mlflow_is_a_message(web_server: str) -> None:
    err = _refused(web_server)
    assert "does not answer MLflow's REST API" in err and "HTTP 404" in err


def test_a_folder_that_is_not_a_file_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    assert "is not an MLflow file store" in _refused(str(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["readme.txt"]  # the mlflow client would create a store
    assert "no such folder" in _refused(str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()


def test_a_database_that_is_not_mlflow_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table users (id integer primary key)")
    before = db.read_bytes()
    assert "is not an MLflow tracking database" in _refused(f"sqlite:///{db}")
    assert db.read_bytes() == before  # the mlflow client would have created its tables in it
    assert "no such database file" in _refused(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_a_database_that_cannot_be_opened_is_a_message_without_its_password() -> None:
    err = _refused(f"postgresql://mlflow:s3cret@127.0.0.1:{free_port()}/mlflow")
    assert "cannot open the source database postgresql://mlflow:***@127.0.0.1" in err
    assert "s3cret" not in err


def test_a_source_that_is_the_destination_is_refused() -> None:
    code, _out, err = run_cli("import-mlflow", "--from", "http://127.0.0.1:9", "--to", "http://127.0.0.1:9/")
    assert code == 2 and "are the same server" in err


def test_the_destination_is_never_taken_from_mlflow_tracking_uri(tmp_path: Path) -> None:
    code, _out, err = run_cli("import-mlflow", "--from", str(tmp_path),
                              env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "OPSLOOP_URL": None})
    assert code == 2
    assert "--to URL" in err and "MLFLOW_TRACKING_URI is not used" in err


def test_without_mlflow_installed_the_command_says_what_to_install(tmp_path: Path) -> None:
    # `import mlflow` fails in this process as it does where mlflow is not installed (sys.modules None entry)
    script = ("import sys; sys.modules['mlflow'] = None; from opsloop.cli import main; "
              f"sys.exit(main(['import-mlflow', '--from', {str(tmp_path)!r}, '--to', 'http://127.0.0.1:9']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert "pip install 'opsloop[mlflow]'" in done.stderr
    assert "Traceback" not in done.stderr
