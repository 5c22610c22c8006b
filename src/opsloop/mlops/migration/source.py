"""Open both ends of an import: check, before anything is written, that the source is an MLflow store
the ``mlflow`` client can read and that the destination answers MLflow's REST API.

The checks are read-only on purpose: the ``mlflow`` client creates a file store in a folder that is not one
and creates its tables in a database that has none, so a mistyped source would otherwise be "imported" as
an empty store, and someone's unrelated SQLite file would get MLflow's tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from opsloop.errors import InvalidInputError, MissingDependencyError, OpsloopError, StorageError

__all__ = ["check_destination", "redacted", "require_mlflow", "resolve_source"]

_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"


def redacted(uri: str) -> str:
    """``uri`` with its password, if any, replaced by ``***``: for messages and summaries."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return uri
    if not password:
        return uri
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def require_mlflow() -> Any:
    """The ``mlflow`` module, or ``MissingDependencyError`` naming the extra that installs it."""
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError.for_extra("mlflow", "mlflow") from None
    return mlflow


def resolve_source(uri: str) -> str:
    """The tracking URI to read ``uri`` with, after checking it names an MLflow store.

    A bare path (``./mlruns``) becomes a ``file:`` URI. Raises ``InvalidInputError`` (``field="from"``) for
    a folder or database that is not an MLflow store, ``StorageError`` for a server that cannot be reached.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if "://" in uri or uri.startswith("file:") else ""
    if scheme in ("http", "https"):
        _probe(uri, "from", "the source")
        return uri
    if scheme in _DB_SCHEMES:
        _check_database(uri)
        return uri
    if scheme in ("", "file"):
        path = Path(unquote(urlparse(uri).path)) if scheme == "file" else Path(uri)
        _check_file_store(path.expanduser())
        return path.expanduser().resolve().as_uri()
    raise InvalidInputError(f"--from {redacted(uri)!r}: unsupported scheme {scheme!r}; give an MLflow server "
                            "(http://…), a file store folder or a database URI (sqlite:///…, postgresql://…)",
                            field="from")


def check_destination(url: str) -> str:
    """``url`` if it is an http(s) server answering MLflow's REST API (an opsloop server does)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"--to {url!r} is not an opsloop server URL (http://host:port)", field="to")
    _probe(url, "to", "the destination")
    return url.rstrip("/")


def _check_file_store(path: Path) -> None:
    if not path.is_dir():
        raise InvalidInputError(f"--from {path}: no such folder (an MLflow file store is a folder like ./mlruns)",
                                field="from")
    markers = [p for p in path.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()]
    if not markers and not (path / "models").is_dir() and not (path / ".trash").is_dir():
        raise InvalidInputError(f"--from {path} is not an MLflow file store: it holds no experiment folders "
                                "(with a meta.yaml)", field="from")


def _check_database(uri: str) -> None:
    if uri.startswith("sqlite:"):
        path = uri.split(":///", 1)[-1] if ":///" in uri else ""
        if path and path != ":memory:" and not Path(path).is_file():
            raise InvalidInputError(f"--from {uri}: no such database file {path!r}", field="from")
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri)
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except ImportError as exc:  # the driver: the mlflow client would need it as well
        raise StorageError(f"cannot open the source database {redacted(uri)}: {exc} (install the database "
                           "driver the mlflow client uses, e.g. psycopg2-binary for postgresql://)") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot open the source database {redacted(uri)}: "
                           f"{redacted(str(exc).splitlines()[0])}") from None
    if not {"experiments", "runs", "alembic_version"} <= tables:
        raise InvalidInputError(f"--from {redacted(uri)} is not an MLflow tracking database (it has no "
                                "experiments, runs and alembic_version tables)", field="from")


def _auth() -> dict[str, Any]:
    """The credentials the ``mlflow`` client itself would send (its environment variables)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"headers": {"Authorization": f"Bearer {token}"}}
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return {"auth": (user, password or "")} if user else {}


def _probe(url: str, option: str, what: str) -> None:
    import httpx

    try:
        resp = httpx.get(url.rstrip("/") + _PROBE, timeout=15.0, **_auth())
    except httpx.InvalidURL as exc:
        raise InvalidInputError(f"--{option} {url!r} is not a valid URL: {exc}", field=option) from None
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach {what} {redacted(url)}: {exc or type(exc).__name__}") from None
    if resp.status_code in (401, 403):
        raise OpsloopError(f"{what} {redacted(url)} refused the request (HTTP {resp.status_code}): set "
                           "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN", field=option)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        kind = resp.headers.get("content-type") or "no content type"
        raise InvalidInputError(f"{what} {redacted(url)} does not answer MLflow's REST API (GET {_PROBE} gave HTTP "
                                f"{resp.status_code}, {kind}): is it an MLflow or opsloop server?", field=option)
