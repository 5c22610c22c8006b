"""Files given to ``opsloop incidents`` are read as UTF-8; one that is not says so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.cli import main


def test_a_topology_file_that_is_not_utf8_is_an_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_bytes("edges:\n  - {source: caf\xe9, target: db}\n".encode("latin-1"))
    code = main(["--url", "http://127.0.0.1:1", "incidents", "topology", str(bad)])  # refused before any request
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "topology.yaml" in err and "UTF-8" in err, err
