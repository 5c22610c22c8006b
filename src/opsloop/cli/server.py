"""``opsloop server``: the API and UI on the embedded store (or PostgreSQL/S3 when configured)."""

from __future__ import annotations

from pathlib import Path

import click

from opsloop.cli._output import fail

__all__ = ["server"]


@click.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 5000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Embedded store folder.")
@click.option("--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@host/db.")
@click.option("--artifact-root", default=None, help="Local folder or s3://bucket/prefix for artifacts.")
@click.option("--advertise-url", default=None,
              help="URL the other servers on the same PostgreSQL database reach this one at (AIOps leader).")
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
def server(host, port, workers, data_dir, database_url, artifact_root, advertise_url, log_level) -> None:  # noqa: ANN001
    """Run the opsloop server (MLflow-compatible API, opsloop API and web UI)."""
    import uvicorn

    from opsloop.runtime import build_runtime
    from opsloop.settings import load_settings

    overrides: dict = {"server": {}, "storage": {}}
    for section, key, value in [("server", "host", host), ("server", "port", port), ("server", "workers", workers),
                                ("server", "advertise_url", advertise_url),
                                ("storage", "data_dir", data_dir), ("storage", "database_url", database_url),
                                ("storage", "artifact_root", artifact_root)]:
        if value is not None:
            overrides[section][key] = value
    if log_level:
        overrides["log_level"] = log_level
    settings = load_settings(overrides)
    _check_listen(settings.server.host, settings.server.port)
    # Create and migrate the store once, before workers start, so errors surface here as messages.
    build_runtime(settings).close()
    _export(settings)
    click.echo(f"opsloop serving on {settings.server.bind_url()} "
               f"(store: {settings.storage.resolved_database_url.split('://')[0]}, "
               f"artifacts: {settings.storage.resolved_artifact_root})", err=True)
    uvicorn.run(
        "opsloop.server.asgi:app", factory=False, host=settings.server.host, port=settings.server.port,
        workers=settings.server.workers, log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=5, timeout_keep_alive=settings.server.keep_alive_s,
    )


def _check_listen(host: str, port: int) -> None:
    """Fail with a message when ``host:port`` cannot be listened on (in use, not an address of this machine),
    before the store is opened and "serving on" is printed; uvicorn would only log it and exit 3."""
    from opsloop.errors import InvalidInputError
    from opsloop.mlops.serving.server import open_socket

    try:
        open_socket(host, port).close()
    except InvalidInputError as exc:
        fail(exc.message)


def _export(settings) -> None:  # noqa: ANN001
    """Hand the resolved settings to worker processes (they import ``opsloop.server.asgi``)."""
    import os

    os.environ["OPSLOOP_SETTINGS_JSON"] = settings.model_dump_json()
