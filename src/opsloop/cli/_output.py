"""Output for people (rich tables) or machines (``--json``), and errors as messages, not tracebacks."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from opsloop.errors import OpsloopError

__all__ = ["emit", "fail", "json_text", "printable", "run_cli_errors"]

# C0 and C1 control characters but the newline, as visible escapes: names, params, tags and alert texts come
# from whoever logs or alerts, and an ESC or CSI in them would drive the terminal (recolour, clear, move the
# cursor) and shift the columns of a table.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x0A}
_CONTROLS.update({0x09: "\\t", 0x0D: "\\r"})


def printable(text: str) -> str:
    """``text`` with control characters (but newlines) written as visible escapes such as ``\\x1b``."""
    return text.translate(_CONTROLS)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {printable(message)}", err=True)
    raise SystemExit(code)


def run_cli_errors(call: Callable[[], Any]) -> int:
    try:
        result = call()
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except OpsloopError as exc:
        click.echo(f"error: {printable(exc.message)}", err=True)
        return 1
    except OSError as exc:  # a destination that cannot be created or written, a full disk…
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0) if isinstance(result, int) else 0


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"  # as MLflow's REST API
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(doc: Any, indent: int | None = 2) -> str:
    """``doc`` as strict JSON: NaN and infinities (which ``json.dumps`` writes bare, and other parsers refuse)
    become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, as in MLflow's REST API."""
    return json.dumps(_finite(doc), indent=indent, default=str, allow_nan=False)


_WORD_WIDTH = 20  # a column of single words up to this long is never folded (a state, a severity, a name)


def _id_width(rows: Sequence[dict[str, Any]], column: str) -> int | None:
    """An id column is as wide as its longest id (at most 64): one folded over two lines cannot be copied. So
    is a column of single short words (``gate_failed`` folded as ``gate_faile`` / ``d`` when a long error
    column took the room): the columns of sentences fold instead."""
    cells = [str(r.get(column) or "") for r in rows]
    longest = max(map(len, cells), default=0)
    if column == "id" or column.endswith("_id"):
        return min(64, longest) or None
    if longest <= _WORD_WIDTH and not any(len(cell.split()) > 1 for cell in cells):
        return longest or None
    return None


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, title: str | None = None) -> None:
    """Print rows as a table, or as JSON when ``as_json``."""
    if as_json:
        click.echo(json_text(list(rows)))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # cells and titles are user data: Text keeps "[/var]" or "[bold]" literal instead of parsing it as markup
    table = Table(title=None if title is None else Text(printable(title)), show_lines=False)
    for col in columns:
        table.add_column(Text(col), overflow="fold", min_width=_id_width(rows, col))
    for row in rows:
        table.add_row(*[Text("" if row.get(c) is None else printable(str(row.get(c)))) for c in columns])
    Console(file=sys.stdout, width=max(100, Console().width)).print(table)
