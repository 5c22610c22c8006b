"""Run a runbook's program: argv without a shell, input on stdin, a timeout that kills it, an output tail.

The program runs in its own process group, so a timeout (or the server stopping) kills what it
started too. Standard output and error are read together as they come and only the last
``tail_chars`` characters are kept, so a chatty program cannot fill the server's memory. Bytes that are not
UTF-8, and NULs, read as U+FFFD.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ProcessResult", "run_process"]

TAIL_CHARS = 8000


@dataclass
class ProcessResult:
    exit_code: int | None
    output: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.error


class _Tail:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.size - len(self.chunks[0]) >= self.limit * 4:  # bytes; a char is at most 4
            self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        # A NUL (binary output, ``find -print0``) cannot be stored in PostgreSQL text: it reads as the
        # replacement character, as undecodable bytes do.
        return b"".join(self.chunks).decode("utf-8", errors="replace")[-self.limit:].replace("\x00", "\ufffd")


async def _pump(stream: asyncio.StreamReader, tail: _Tail) -> None:
    while chunk := await stream.read(65536):
        tail.add(chunk)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_process(argv: list[str] | tuple[str, ...], *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
                      cwd: str | None = None, timeout_s: float = 300.0, tail_chars: int = TAIL_CHARS) -> ProcessResult:
    """Run ``argv`` to its end or its timeout; never raises for the program's own failures."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    except OSError as exc:
        if cwd and not os.path.isdir(cwd):  # the folder, not the program (the error names neither)
            return ProcessResult(None, "", f"cannot start {argv[0]!r}: cwd {cwd!r} is not a folder")
        if isinstance(exc, FileNotFoundError):
            return ProcessResult(None, "", f"cannot start {argv[0]!r}: {argv[0]!r} not found ({exc.strerror})")
        return ProcessResult(None, "", f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    tail = _Tail(tail_chars)
    assert proc.stdin is not None and proc.stdout is not None
    pump = asyncio.create_task(_pump(proc.stdout, tail))
    # Fed beside the wait, so a program that never reads its input still meets its timeout.
    feeder = asyncio.create_task(_feed(proc.stdin, stdin))
    try:
        await asyncio.wait_for(proc.wait(), timeout=timeout_s)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        feeder.cancel()
        await _finish(pump)
        return ProcessResult(proc.returncode, tail.text(), f"timed out after {timeout_s:g}s; killed")
    except asyncio.CancelledError:
        _kill(proc)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        feeder.cancel()
        pump.cancel()
        raise
    feeder.cancel()
    await _finish(pump)
    _kill(proc)  # children the program left behind in its group
    return ProcessResult(proc.returncode, tail.text())


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        await pipe.drain()
        pipe.close()


async def _finish(pump: asyncio.Task[None]) -> None:
    # A grandchild may still hold the pipe open; don't wait for it forever.
    try:
        await asyncio.wait_for(pump, timeout=2.0)
    except (TimeoutError, asyncio.CancelledError):
        pump.cancel()
