"""The ``opsloop`` command line. One module per command group."""

from __future__ import annotations

import sys

import click

from opsloop import __version__
from opsloop.cli._output import run_cli_errors

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opsloop")
def cli() -> None:
    """opsloop: experiment tracking, model registry and serving, and AIOps in one loop."""


def _register() -> None:
    from opsloop.cli import server, tracking

    cli.add_command(server.server)
    for command in tracking.commands:
        cli.add_command(command)
    for module_name, attrs in _OPTIONAL:
        try:
            module = __import__(module_name, fromlist=attrs)
        except ImportError:
            continue
        for attr in attrs:
            cli.add_command(getattr(module, attr))


# Command groups living in their own modules, added when present.
_OPTIONAL: list[tuple[str, list[str]]] = [
    ("opsloop.cli.serving", ["serve", "predict"]),
    ("opsloop.cli.models", ["models"]),
    ("opsloop.cli.incidents", ["incidents"]),
]


def main(argv: list[str] | None = None) -> int:
    _register()
    return run_cli_errors(lambda: cli.main(args=argv, prog_name="opsloop", standalone_mode=False))


if __name__ == "__main__":
    sys.exit(main())
