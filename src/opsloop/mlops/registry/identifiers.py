"""What the registry accepts as model names, versions, aliases and tags (MLflow's rules)."""

from __future__ import annotations

import re

from opsloop.errors import InvalidInputError, LimitExceededError
from opsloop.mlops.tracking import limits

__all__ = [
    "MAX_ALIAS_LENGTH",
    "MAX_TAG_KEY_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "check_alias",
    "check_model_name",
    "check_new_model_name",
    "check_tag",
    "parse_version",
]

MAX_ALIAS_LENGTH = 255
MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
LATEST_ALIAS = "latest"

_ALIAS_RE = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")


def check_model_name(name: object, field: str = "name") -> str:
    """A registered model name: non-empty, no ``/`` or ``:``, at most 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Missing value for required parameter '{field}'.", field=field)
    if "/" in name or ":" in name:
        raise InvalidInputError(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.", field=field)
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise LimitExceededError(f"Model name exceeds {MAX_MODEL_NAME_LENGTH} characters", field=field)
    return name


def check_new_model_name(name: object, field: str = "name") -> str:
    """A name for a model being created or renamed: ``check_model_name``'s rules and, as MLflow's server, not one
    that a path would read as another (``.``, ``..``, ``..x``), since names stand in URLs and file paths (opsloop's
    API and UI address a model as ``/models/{name}``; ``..`` there is the parent). Only new names are checked, so
    a model stored under such a name earlier stays reachable."""
    name = check_model_name(name, field)
    if name == "." or name.startswith(".."):
        raise InvalidInputError(
            f"Invalid value {name!r} for parameter '{field}' supplied: Names may be treated as files in certain "
            f"cases, and must not resolve to other names when treated as such.", field=field)
    return name


def parse_version(version: object, field: str = "version") -> int:
    """A version number from the wire (a decimal string, or an integer)."""
    if isinstance(version, int) and not isinstance(version, bool):
        value = version
    elif isinstance(version, str) and re.fullmatch(r"\s*[+-]?\d+\s*", version):
        value = int(version)
    else:
        raise InvalidInputError(
            f"Parameter '{field}' must be an integer, got {version!r}.", field=field)
    if not 0 < value <= limits.MAX_INT64:
        raise InvalidInputError(f"Parameter '{field}' must be a positive integer, got {value}.", field=field)
    return value


def check_alias(alias: object, *, for_write: bool = False) -> str:
    """An alias: letters, digits, ``_`` and ``-``; ``latest`` and ``v<N>`` cannot be set (they are reserved)."""
    if not isinstance(alias, str) or alias == "":
        raise InvalidInputError("Registered model alias name cannot be empty.", field="alias")
    if not _ALIAS_RE.match(alias):
        raise InvalidInputError(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).",
            field="alias")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise LimitExceededError(f"Alias '{alias[:40]}...' exceeds {MAX_ALIAS_LENGTH} characters", field="alias")
    if for_write and alias.lower() == LATEST_ALIAS:
        raise InvalidInputError("'latest' alias name (case insensitive) is reserved.", field="alias")
    if for_write and _VERSION_ALIAS_RE.match(alias):
        raise InvalidInputError(f"Version alias name '{alias}' is reserved.", field="alias")
    return alias


def check_tag(key: object, value: object) -> tuple[str, str]:
    """A registry tag: a non-empty key of at most 250 characters, a string value of at most 100 000."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError("Missing value for required parameter 'key'.", field="key")
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise LimitExceededError(f"Tag key '{key[:40]}...' exceeds {MAX_TAG_KEY_LENGTH} characters", field="key")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInputError(f"Tag '{key}' value must be a string", field="value")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise LimitExceededError(f"Tag '{key}' value exceeds {MAX_TAG_VALUE_LENGTH} characters", field="value")
    return key, value
