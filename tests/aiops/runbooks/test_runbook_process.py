"""The program runner on its own: a bounded output tail, and a timeout that holds even when the program
never reads its input."""

from __future__ import annotations

import asyncio

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
