"""Which sources a model version may be registered from, and the lineage each one implies.

A version's files must be somewhere the server can vouch for:

- ``models:/m-<id>``: a logged model; its run becomes the version's run.
- ``runs:/RUN_ID/PATH``: a folder of a run's artifacts (``run_id``, if given, must match).
- ``mlflow-artifacts:/…`` inside the artifacts of the given ``model_id`` (or else ``run_id``).
- ``models:/NAME/VERSION`` (or ``@alias``): a copy of another version, with its lineage.
- other remote schemes (``s3://``, ``gs://``…) are kept as given.

Local paths, ``file:`` and plain web addresses are refused (the server cannot tell whose they are),
as is ``..`` anywhere in the source.

A prompt version (tagged ``mlflow.prompt.is_prompt = true`` by ``mlflow.genai.register_prompt``) has no
files: its template is a tag, and its source must be one of MLflow's placeholders (``dummy-source``,
``prompt-template``), as MLflow's server requires.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.registry.entities import ModelVersion
from opsloop.mlops.registry.uris import ModelUri, parse_model_uri
from opsloop.mlops.tracking.limits import MAX_MODEL_ID_LENGTH, MAX_RUN_ID_LENGTH

__all__ = ["IS_PROMPT_TAG", "ResolvedSource", "TrackingLookup", "is_prompt_version", "resolve_source"]

_UNVOUCHED_SCHEMES = ("", "file", "http", "https", "ftp")
IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
PROMPT_SOURCE_PLACEHOLDERS = frozenset({"dummy-source", "prompt-template"})  # what mlflow's senders send


class TrackingLookup(Protocol):
    """The two tracking-store reads source resolution needs."""

    def get_run(self, run_id: str) -> Any: ...

    def get_logged_model(self, model_id: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    source: str
    run_id: str | None
    model_id: str | None
    storage_location: str | None


def _bad(source: str, why: str, field: str = "source") -> InvalidInputError:
    return InvalidInputError(f"Invalid model version source: '{source}'. {why}", field=field)


def _uri_path(uri: str) -> tuple[str, str]:
    """(scheme, normalised path) of an artifact URI, ignoring any host part."""
    parsed = urlparse(uri)
    return parsed.scheme, posixpath.normpath("/" + parsed.path.lstrip("/"))


def is_within(source: str, root: str) -> bool:
    """Whether artifact URI ``source`` is ``root`` or below it."""
    (s_scheme, s_path), (r_scheme, r_path) = _uri_path(source), _uri_path(root)
    return s_scheme == r_scheme and (s_path == r_path or s_path.startswith(r_path.rstrip("/") + "/"))


class _Resolver:
    def __init__(self, tracking: TrackingLookup, resolve_version: Callable[[ModelUri], ModelVersion]) -> None:
        self.tracking = tracking
        self.resolve_version = resolve_version

    def run(self, run_id: str, field: str) -> Any:
        try:
            return self.tracking.get_run(run_id)
        except NotFoundError as exc:
            raise InvalidInputError(f"Invalid model version {field}: {exc.message}", field=field) from None

    def logged_model(self, model_id: str, field: str) -> Any:
        try:
            return self.tracking.get_logged_model(model_id)
        except NotFoundError as exc:
            raise InvalidInputError(f"Invalid model version {field}: {exc.message}", field=field) from None

    def artifacts(self, source: str, run_id: str | None, model_id: str | None) -> ResolvedSource:
        if model_id:
            model = self.logged_model(model_id, "model_id")
            root, owner, run_id = model.artifact_uri, f"model_id {model_id}", run_id or model.source_run_id
        elif run_id:
            root, owner = self.run(run_id, "run_id").info.artifact_uri, f"run_id {run_id}"
        else:
            raise _bad(source, "An mlflow-artifacts source needs the run_id or model_id whose artifacts contain it.")
        if not is_within(source, root):
            raise _bad(source, f"It is not inside the artifacts of {owner} ({root}).")
        return ResolvedSource(source, run_id, model_id, source)

    def model_uri(self, source: str, uri: ModelUri, run_id: str | None, model_id: str | None) -> ResolvedSource:
        if uri.kind == "run":
            if model_id:
                raise _bad(source, "A runs:/ source cannot come with a model_id.", "model_id")
            if run_id and run_id != uri.name:
                raise _bad(source, f"It does not belong to run_id {run_id}.", "run_id")
            root = self.run(uri.name, "source").info.artifact_uri.rstrip("/")
            return ResolvedSource(source, uri.name, None, f"{root}/{uri.path}" if uri.path else root)
        if uri.kind == "logged_model":
            if model_id and model_id != uri.name:
                raise _bad(source, f"It does not match model_id {model_id}.", "model_id")
            model = self.logged_model(uri.name, "source")
            return ResolvedSource(source, run_id or model.source_run_id, uri.name, model.artifact_uri)
        mv = self.resolve_version(uri)
        if (run_id and run_id != mv.run_id) or (model_id and model_id != mv.model_id):
            raise _bad(source, "The run_id and model_id must match the referenced model version.")
        return ResolvedSource(f"models:/{mv.name}/{mv.version}", mv.run_id, mv.model_id, mv.download_uri)


def is_prompt_version(tags: Mapping[str, str] | None) -> bool:
    """Whether a new version's tags make it a prompt version (MLflow's rule: the tag is ``true``)."""
    value = (tags or {}).get(IS_PROMPT_TAG, "false")
    return isinstance(value, str) and value.lower() == "true"


def resolve_source(source: object, run_id: str | None, model_id: str | None, *, tracking: TrackingLookup,
                   resolve_version: Callable[[ModelUri], ModelVersion], prompt: bool = False) -> ResolvedSource:
    """The source as stored, the run and logged model it implies, and where its files are.

    ``prompt``: the version is a prompt version, whose source must be one of MLflow's placeholders; it has
    no files and no lineage.

    Raises:
        InvalidInputError: the source is refused; ``field`` is ``source``, ``run_id`` or ``model_id``.
        NotFoundError: a ``models:/NAME/…`` source names a version that does not exist.
    """
    if not isinstance(source, str) or not source:
        raise InvalidInputError("Missing value for required parameter 'source'.", field="source")
    for value, width, field in ((run_id, MAX_RUN_ID_LENGTH, "run_id"), (model_id, MAX_MODEL_ID_LENGTH, "model_id")):
        if value is not None and len(value) > width:  # kept as given beside a remote source: it must fit
            raise InvalidInputError(f"Invalid model version {field}: {value[:40]!r}... is longer than an id "
                                    f"({width} characters)", field=field)
    if prompt:
        if source not in PROMPT_SOURCE_PLACEHOLDERS:
            raise InvalidInputError(f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow "
                                    f"placeholder ({', '.join(sorted(PROMPT_SOURCE_PLACEHOLDERS))}).",
                                    field="source")
        return ResolvedSource(source, None, None, None)
    resolver = _Resolver(tracking, resolve_version)
    scheme = urlparse(source).scheme
    if scheme in ("models", "runs"):
        return resolver.model_uri(source, parse_model_uri(source, "source"), run_id, model_id)
    if ".." in source.split("/"):
        raise _bad(source, "'..' is not allowed.")
    if scheme in _UNVOUCHED_SCHEMES or len(scheme) == 1:
        raise _bad(source, "The server cannot vouch for local paths or plain web addresses; register runs:/…, "
                           "models:/… or the run's mlflow-artifacts:/… location.")
    if scheme == "mlflow-artifacts":
        return resolver.artifacts(source, run_id, model_id)
    return ResolvedSource(source, run_id, model_id, source)
