"""``opsloop experiments|runs|artifacts``: tables for people, ``--json`` for machines, errors as messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opsloop.cli import main
from opsloop.sdk import Client
from tests.conftest import ServerProcess, free_port

OPSLOOP_BIN = str(Path(sys.executable).with_name("opsloop"))


def _seed(client: Client, tmp: Path) -> dict[str, Any]:
    """Two runs in experiment 'cli-exp', with params, metrics and artifacts."""
    (tmp / "art" / "sub").mkdir(parents=True)
    (tmp / "art" / "model.txt").write_text("weights")
    (tmp / "art" / "sub" / "conf.yaml").write_text("lr: 0.1")
    ids = {}
    for name, loss in (("good", 0.1), ("bad", 0.9)):
        with client.start_run("cli-exp", run_name=name, params={"lr": loss}, capture_git=False) as run:
            run.log_metric("loss", loss)
            run.log_artifacts(tmp / "art")
        ids[name] = run.id
    return {"exp_id": run.experiment_id, **ids}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cli")
    with Client(data_dir=tmp / "data") as client:
        seeded = _seed(client, tmp)
    return {"data_dir": str(tmp / "data"), **seeded}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = _cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_experiments_list_as_table_and_json(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "experiments", "list", "--data-dir", store["data_dir"])
    assert code == 0 and "cli-exp" in out and "experiment_id" in out and "Default" in out
    rows = _json(capsys, "experiments", "list", "--data-dir", store["data_dir"])
    assert {r["name"] for r in rows} == {"cli-exp", "Default"}


def test_experiments_search_and_show(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _json(capsys, "experiments", "search", "--filter", "name LIKE 'cli%'", "--order-by", "name ASC",
                 "--data-dir", store["data_dir"])
    assert [r["name"] for r in rows] == ["cli-exp"]
    by_name = _json(capsys, "experiments", "show", "cli-exp", "--data-dir", store["data_dir"])
    by_id = _json(capsys, "experiments", "show", store["exp_id"], "--data-dir", store["data_dir"])
    assert by_name == by_id and by_name[0]["experiment_id"] == store["exp_id"]
    code, out, _ = _cli(capsys, "experiments", "show", "cli-exp", "--data-dir", store["data_dir"])
    assert code == 0 and "artifact_location" in out


def test_runs_list_search_and_show(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "runs", "list", "--experiment", "cli-exp", "--data-dir", store["data_dir"])
    assert code == 0 and store["good"] in out and store["bad"] in out and "loss=0.1" in out
    rows = _json(capsys, "runs", "search", "-e", "cli-exp", "--filter", "metrics.loss < 0.5",
                 "--order-by", "metrics.loss ASC", "--max-results", "5", "--data-dir", store["data_dir"])
    assert [r["run_id"] for r in rows] == [store["good"]]
    assert rows[0]["metrics"] == {"loss": 0.1} and rows[0]["params"] == {"lr": "0.1"}
    (shown,) = _json(capsys, "runs", "show", store["bad"], "--data-dir", store["data_dir"])
    assert shown["status"] == "FINISHED" and shown["run_name"] == "bad"
    code, out, _ = _cli(capsys, "runs", "show", store["bad"], "--data-dir", store["data_dir"])
    assert code == 0 and "params" in out and "lr" in out and "FINISHED" in out


def test_artifacts_list_and_download(store: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = _json(capsys, "artifacts", "list", store["good"], "--data-dir", store["data_dir"])
    assert [(r["path"], r["is_dir"]) for r in rows] == [("model.txt", False), ("sub", True)]
    code, out, _ = _cli(capsys, "artifacts", "list", store["good"], "sub", "--data-dir", store["data_dir"])
    assert code == 0 and "sub/conf.yaml" in out
    code, out, _ = _cli(capsys, "artifacts", "download", store["good"], "--dst", str(tmp_path / "all"),
                        "--data-dir", store["data_dir"])
    assert code == 0 and (tmp_path / "all" / "sub" / "conf.yaml").read_text() == "lr: 0.1"
    (done,) = _json(capsys, "artifacts", "download", store["good"], "model.txt", "--dst", str(tmp_path / "one"),
                    "--data-dir", store["data_dir"])
    assert Path(done["local_path"]).read_text() == "weights"


@pytest.mark.parametrize("args", [
    ["runs", "show", "0123456789abcdef0123456789abcdef"],
    ["experiments", "show", "no-such-experiment"],
    ["artifacts", "list", "0123456789abcdef0123456789abcdef"],
    ["artifacts", "download", "RUN", "missing.txt"],
    ["runs", "search", "--filter", "metrics.loss <<< 1"],
])
def test_errors_are_one_line_messages_with_a_nonzero_exit(store: dict, capsys: pytest.CaptureFixture[str],
                                                          args: list[str], tmp_path: Path) -> None:
    args = [store["good"] if a == "RUN" else a for a in args]
    code, out, err = _cli(capsys, *args, "--data-dir", store["data_dir"])
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err


def test_missing_data_folder_is_reported_not_created(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(capsys, "runs", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "no opsloop data folder" in err and not (tmp_path / "nowhere").exists()


def test_commands_work_over_http_against_a_real_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with Client(server.url) as client:
            seeded = _seed(client, tmp_path)
        rows = _json(capsys, "runs", "list", "-e", "cli-exp", "--url", server.url)
        assert {r["run_id"] for r in rows} == {seeded["good"], seeded["bad"]}
        files = _json(capsys, "artifacts", "list", seeded["good"], "sub", "--url", server.url)
        assert files == [{"path": "sub/conf.yaml", "is_dir": False, "file_size": 7}]
        code, _, _ = _cli(capsys, "artifacts", "download", seeded["good"], "--dst", str(tmp_path / "dl"),
                          "--url", server.url)
        assert code == 0 and (tmp_path / "dl" / "model.txt").read_text() == "weights"
        code, _, err = _cli(capsys, "runs", "show", "0123456789abcdef0123456789abcdef", "--url", server.url)
        assert code == 1 and err.startswith("error: Run with id=") and "Traceback" not in err
    finally:
        server.stop()
    code, _, err = _cli(capsys, "experiments", "list", "--url", server.url)
    assert code == 1 and err.startswith("error: cannot reach the tracking server")


def test_the_installed_command_prints_no_traceback(store: dict) -> None:
    done = subprocess.run([OPSLOOP_BIN, "runs", "show", "nope", "--data-dir", store["data_dir"]],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_table_cells_are_printed_as_given_not_as_markup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Names and texts are user data: "[/var]" or "[bold]" in them is text, not the table library's markup
    # (an unmatched closing tag used to end the command with a traceback, an opening one vanished).
    name = "[/v]x[b]y[i]"  # short enough not to be folded over lines
    with Client(data_dir=tmp_path / "data") as client:
        client.start_run(name, run_name=name, capture_git=False).end()
    code, out, err = _cli(capsys, "experiments", "list", "--data-dir", str(tmp_path / "data"))
    assert code == 0, err
    assert name in out
    code, out, err = _cli(capsys, "runs", "list", "--experiment", name, "--data-dir", str(tmp_path / "data"))
    assert code == 0 and name in out, err


def test_the_top_level_url_and_data_dir_are_the_default_source(store: dict, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # `opsloop --url URL runs list`, OPSLOOP_URL and MLFLOW_TRACKING_URI name the server for every command
    # (README); they used to be read by serve/predict/models only, the tracking commands fell back to the
    # embedded store of the settings and showed its runs instead.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("OPSLOOP_URL", raising=False)
    rows = _json(capsys, "--data-dir", store["data_dir"], "runs", "list")
    assert {r["run_id"] for r in rows} == {store["good"], store["bad"]}
    monkeypatch.setenv("OPSLOOP_DATA_DIR", store["data_dir"])
    closed = f"http://127.0.0.1:{free_port()}"
    code, out, err = _cli(capsys, "--url", closed, "runs", "list")
    assert code == 1 and out == "" and err.startswith(f"error: cannot reach the tracking server at {closed}")
    for env in ("OPSLOOP_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(env, closed)
        code, _, err = _cli(capsys, "experiments", "list")
        assert code == 1 and "cannot reach the tracking server" in err
        # a command's own option still wins
        assert {r["name"] for r in _json(capsys, "experiments", "list", "--data-dir", store["data_dir"])} == {
            "cli-exp", "Default"}
        monkeypatch.delenv(env)
    # an MLflow store URI is no server: the embedded store is read
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert len(_json(capsys, "runs", "list")) == 2


def test_json_output_is_strict_json_with_nan_and_infinite_metrics(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # json.dumps wrote bare NaN/Infinity, which JSON parsers other than Python's refuse.
    with Client(data_dir=tmp_path / "data") as client:
        with client.start_run("odd", run_name="odd", capture_git=False) as run:
            run.log_metrics({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "ok": 0.5})
    code, out, err = _cli(capsys, "runs", "show", run.id, "--data-dir", str(tmp_path / "data"), "--json")
    assert code == 0, err

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    rows = json.loads(out, parse_constant=refuse)
    assert rows[0]["metrics"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "ok": 0.5}


def test_a_destination_that_cannot_be_written_is_a_message(store: dict, capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    # The OSError of creating --dst under a file (or without permission) ended the command in a traceback.
    (tmp_path / "a-file").write_text("")
    code, out, err = _cli(capsys, "artifacts", "download", store["good"], "--dst", str(tmp_path / "a-file" / "x"),
                          "--data-dir", store["data_dir"])
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "a-file" in err and "\n" == err[-1] and err.count("\n") == 1


@pytest.mark.parametrize("command", [["experiments", "list"], ["runs", "list"], ["runs", "show", "abc"]])
def test_a_folder_without_a_store_is_refused_and_left_untouched(command: list[str], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # `--data-dir ~` (or any existing folder by mistake) had a read command create opsloop.db and artifacts/ there
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = _cli(capsys, *command, "--data-dir", str(tmp_path))
    assert code == 1 and out == "" and err.startswith("error: no opsloop store in ") and str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", ["list", "search"])
def test_runs_cut_at_max_results_say_so_on_stderr_and_json_stays_clean(
        store: dict, capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = _cli(capsys, "runs", command, "-e", "cli-exp", "--max-results", "1",
                          "--data-dir", store["data_dir"])
    assert code == 0 and (store["good"] in out) != (store["bad"] in out)
    assert "showing the first 1 run; more match" in err and "--max-results" in err
    code, out, err = _cli(capsys, "runs", command, "-e", "cli-exp", "--max-results", "1", "--json",
                          "--data-dir", store["data_dir"])
    assert code == 0 and err == "" and len(json.loads(out)) == 1
    code, out, err = _cli(capsys, "runs", command, "-e", "cli-exp", "--max-results", "2",
                          "--data-dir", store["data_dir"])
    assert code == 0 and store["good"] in out and store["bad"] in out and err == ""


def test_run_ids_in_a_table_are_never_folded_over_two_lines(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A 32-character run id was folded in a 100-column table with a long metrics summary: it could not be
    copied from the terminal."""
    with Client(data_dir=tmp_path / "data") as client:
        with client.start_run("wide", run_name="a-rather-long-run-name-for-a-table", capture_git=False) as run:
            run.log_metrics({f"metric_with_a_long_name_{i}": i / 7 for i in range(5)})
    code, out, _ = _cli(capsys, "runs", "list", "-e", "wide", "--data-dir", str(tmp_path / "data"))
    assert code == 0 and run.id in out


@pytest.mark.parametrize("command", ["list", "search"])
def test_experiments_cut_at_max_results_say_so_on_stderr(store: dict, capsys: pytest.CaptureFixture[str],
                                                         command: str) -> None:
    code, out, err = _cli(capsys, "experiments", command, "--max-results", "1", "--data-dir", store["data_dir"])
    assert code == 0 and "showing the first 1 experiment; more match" in err
    code, out, err = _cli(capsys, "experiments", command, "--max-results", "1", "--json",
                          "--data-dir", store["data_dir"])
    assert code == 0 and err == "" and len(json.loads(out)) == 1
    code, out, err = _cli(capsys, "experiments", command, "--data-dir", store["data_dir"])
    assert code == 0 and err == "" and "cli-exp" in out and "Default" in out


@pytest.mark.parametrize("where", [["--url", "localhost:5000"], ["runs", "list", "--url", "127.0.0.1:5000/"]])
def test_a_server_given_without_a_scheme_is_a_usage_error_saying_the_url(
        where: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--url localhost:5000` was taken for a store URI of scheme 'localhost' and dropped: the command then said
    'no opsloop data folder … (pass --data-dir or --url)'."""
    monkeypatch.chdir(tmp_path)
    args = [*where, "runs", "list"] if where[0] == "--url" else where
    code, _, err = _cli(capsys, *args)
    host = where[-1]
    assert code == 2 and f"'{host}' has no scheme: give the server as http://{host}" in err
