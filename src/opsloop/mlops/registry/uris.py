"""The model URIs the registry understands: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
``models:/NAME/STAGE`` (legacy), ``models:/NAME/latest``, ``models:/m-<id>`` (a logged model) and
``runs:/RUN_ID/PATH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from opsloop.errors import InvalidInputError
from opsloop.mlops.registry.identifiers import LATEST_ALIAS, check_alias, check_model_name, parse_version
from opsloop.mlops.registry.stages import canonical_stage

__all__ = ["ModelUri", "parse_model_uri", "run_model_query"]


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed URI. ``kind`` is ``version``, ``alias``, ``stage``, ``latest``, ``logged_model`` or ``run``."""

    kind: str
    name: str  # the registered model name, the logged model id or the run id
    version: int | None = None
    alias: str | None = None
    stage: str | None = None
    path: str = ""


def _bad(uri: str, why: str, field: str) -> InvalidInputError:
    return InvalidInputError(f"Invalid model URI {uri!r}: {why}", field=field)


def parse_model_uri(uri: object, field: str = "model_uri") -> ModelUri:
    """Parse a ``models:/`` or ``runs:/`` URI; anything else is an ``InvalidInputError`` on ``field``."""
    if not isinstance(uri, str):
        raise InvalidInputError(f"Invalid model URI {uri!r}: expected a string", field=field)
    parsed = urlparse(uri)
    if parsed.netloc:
        raise _bad(uri, "a registry host in the URI is not supported", field)
    parts = [p for p in parsed.path.split("/") if p]
    if ".." in parts:
        raise _bad(uri, "'..' is not allowed", field)
    if parsed.scheme == "runs":
        if not parts:
            raise _bad(uri, "expected runs:/RUN_ID/PATH", field)
        return ModelUri("run", parts[0], path="/".join(parts[1:]))
    if parsed.scheme != "models" or not parts:
        raise _bad(uri, "expected models:/NAME/VERSION, models:/NAME@ALIAS, models:/MODEL_ID or runs:/RUN/PATH",
                   field)
    if len(parts) == 1:
        if "@" in parts[0]:
            name, alias = parts[0].split("@", 1)
            return ModelUri("alias", check_model_name(name, field), alias=check_alias(alias))
        return ModelUri("logged_model", parts[0])
    if len(parts) != 2:
        raise _bad(uri, "expected models:/NAME/VERSION", field)
    name, ref = check_model_name(parts[0], field), parts[1]
    if ref.isdigit():
        return ModelUri("version", name, version=parse_version(ref, field))
    if ref.lower() == LATEST_ALIAS:
        return ModelUri("latest", name)
    return ModelUri("stage", name, stage=canonical_stage(ref))


def run_model_query(uri: ModelUri) -> tuple[str, str] | None:
    """For ``runs:/RUN/NAME[/SUB]``: the logged-models filter that finds the model ``NAME`` logged in that
    run, and ``SUB``; ``None`` for other URIs.

    MLflow 3 keeps the files of ``log_model(name=NAME)`` with the logged model, not among the run's
    artifacts, and resolves ``runs:/RUN/NAME`` to that model (its ``RunsArtifactRepository`` does).
    """
    if uri.kind != "run" or not uri.path:
        return None
    name, _, rest = uri.path.partition("/")
    if "'" in name:
        return None  # no quoting in the filter grammar; such a path can only name run artifacts
    return f"name = '{name}' AND source_run_id = '{uri.name}'", rest
