"""The program runner on its own: a bounded output tail, a timeout that holds even when the program
never reads its input, and a start that fails naming its cause."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.aiops.runbooks._helpers import python

from opsloop.aiops.runbooks import run_process


def test_only_the_tail_of_a_chatty_program_is_kept() -> None:
    result = asyncio.run(run_process(python("import sys\nfor i in range(20000): print(f'line {i}')\n"
                                            "print('the end', file=sys.stderr)"), tail_chars=1000))
    assert result.ok and result.exit_code == 0
    assert len(result.output) <= 1000 and result.output.rstrip().endswith("the end")
    assert "line 19999" in result.output and "line 1\n" not in result.output


def test_a_program_that_ignores_a_large_input_still_times_out() -> None:
    result = asyncio.run(run_process(python("import time; time.sleep(30)"), stdin=b"x" * 4_000_000, timeout_s=0.5))
    assert not result.ok and "timed out after 0.5s" in result.error


def test_a_cwd_that_is_a_file_is_named_as_the_reason_the_program_could_not_start(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "train.py"
    not_a_folder.write_text("print(1)\n")
    result = asyncio.run(run_process(python("print(1)"), cwd=str(not_a_folder)))
    assert not result.ok and result.exit_code is None
    assert result.error == f"cannot start {sys.executable!r}: cwd {str(not_a_folder)!r} is not a folder", result.error
    missing = asyncio.run(run_process(python("print(1)"), cwd=str(tmp_path / "gone")))
    assert missing.error == f"cannot start {sys.executable!r}: cwd {str(tmp_path / 'gone')!r} is not a folder"
