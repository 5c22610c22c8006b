"""The ``opsloop`` command line. One module per command group."""

from __future__ import annotations

import sys

import click

from opsloop import __version__
from opsloop.cli._http import checked_url
from opsloop.cli._output import run_cli_errors
from opsloop.cli._store import missing_store

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opsloop")
@click.option("--url", envvar=["OPSLOOP_URL", "MLFLOW_TRACKING_URI"], default=None, callback=checked_url,
              help="opsloop server that every command reads from, and models:/ URIs and validations go "
                   "to (env OPSLOOP_URL or MLFLOW_TRACKING_URI); without it, the embedded store in "
                   "--data-dir is used.")
@click.option("--data-dir", default=None, help="Embedded store folder (default: settings' data_dir).")
@click.pass_context
def cli(ctx: click.Context, url: str | None, data_dir: str | None) -> None:
    """opsloop: experiment tracking, model registry and serving, and AIOps in one loop."""
    ctx.obj = Wiring(url, data_dir)


class Wiring(dict):
    """What commands share: the model resolver and validation registry, built on first use.

    With a server URL both talk to it over HTTP; with another MLflow tracking URI (``sqlite:``,
    ``file:``, …) the commands use the ``mlflow`` client; with none they work on the embedded store.
    """

    def __init__(self, url: str | None, data_dir: str | None) -> None:
        super().__init__()
        self.url = url
        self.data_dir = data_dir
        self._runtime = None

    def settings(self):  # noqa: ANN201 - opsloop.settings.Settings
        from opsloop.settings import load_settings

        return load_settings({"storage": {"data_dir": self.data_dir}} if self.data_dir else {})

    def runtime(self):  # noqa: ANN201 - opsloop.runtime.Runtime
        if self._runtime is None:
            from opsloop.runtime import build_runtime

            self._runtime = build_runtime(self.settings())
        return self._runtime

    def get(self, key: str, default=None):  # noqa: ANN001, ANN201
        if key not in self and key in ("model_resolver", "validation_registry"):
            self[key] = self._build(key)
        return super().get(key, default)

    def _build(self, key: str):  # noqa: ANN202
        from opsloop.mlops import registry

        if self.url and not self.url.startswith(("http://", "https://")):
            return None  # an MLflow store URI: the command's mlflow-client fallback handles it
        if not self.url and missing_store(self.settings().storage):
            return None  # no embedded store here: the command says none is configured (opening would create one)
        if key == "model_resolver":
            return registry.HttpModelResolver(self.url) if self.url else registry.LocalModelResolver.for_runtime(
                self.runtime())
        return registry.HttpValidationRegistry(self.url) if self.url else registry.LocalValidationRegistry(
            self.runtime())


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
    ("opsloop.cli.mlflow_import", ["import_mlflow"]),
    ("opsloop.cli.tuning", ["tune"]),
]


def main(argv: list[str] | None = None) -> int:
    _register()
    return run_cli_errors(lambda: cli.main(args=argv, prog_name="opsloop", standalone_mode=False))


if __name__ == "__main__":
    sys.exit(main())
