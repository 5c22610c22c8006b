"""A table column of single short words (a state, a severity) is never folded when a long sentence column
needs the room: ``gate_failed`` was printed as ``gate_faile`` over ``d`` beside a runbook's error."""

from __future__ import annotations

import pytest

from opsloop.cli._output import emit


def test_single_word_columns_stay_whole_and_sentences_fold(capsys: pytest.CaptureFixture[str]) -> None:
    error = "gate failed: accuracy >= champion - 0.05: candidate 0.61, champion 0.93, bound 0.88 " * 2
    rows = [{"id": 2, "runbook": "retrain-shuffled", "incident": 1, "trigger": "manual", "state": "gate_failed",
             "exit": 0, "candidate": 3, "created": "2026-12-08 00:19:38", "error": error}]
    emit(rows, list(rows[0]), as_json=False)
    out = capsys.readouterr().out
    assert "gate_failed" in out and "retrain-shuffled" in out and "manual" in out
    assert "0.05:" in out  # the error is there, folded over lines
    assert max(map(len, out.splitlines())) <= 100
