"""Secret values in the pipeline settings: shown masked, kept when the mask is written back.

Three settings carry secrets: a notification target's ``headers`` (an ``Authorization`` token,
say) and ``routing_key`` (PagerDuty's integration key), a Prometheus pull query's ``headers`` and
``basic_auth.password``, and a runbook action's ``env``. Read over the API, each such value shows
as ``***``. Written back with ``***`` in place of a value, the stored value is kept (matched by the
item's ``name`` and the secret's own name), so a client can read a setting, change one field and
write it back without ever holding the secrets. A ``***`` with no stored value to stand for is an
error, never stored as the secret itself.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from opsloop.errors import InvalidInputError

__all__ = ["MASK", "mask", "restore"]

MASK = "***"

# setting -> where its secrets sit inside one item: a map of secret values, or one secret value
_SECRET_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "notification_targets": (("headers",), ("routing_key",)), "runbooks": (("action", "env"),),
    "prometheus_queries": (("headers",), ("basic_auth", "password"))}


def _secrets(item: Any, path: tuple[str, ...]) -> tuple[dict[str, Any], str | None] | None:
    """Where the secrets at ``path`` sit: the map holding them and, for a single value, its key."""
    node = item
    for key in path[:-1]:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if not isinstance(node, dict):
        return None
    inner = node.get(path[-1])
    if isinstance(inner, dict):
        return inner, None
    if isinstance(inner, str) and inner:
        return node, path[-1]
    return None


def _names(found: tuple[dict[str, Any], str | None]) -> list[str]:
    holder, single = found
    return [single] if single is not None else list(holder)


def mask(key: str, items: Any) -> Any:
    """A copy of setting ``key`` with every secret value replaced by ``***``."""
    paths = _SECRET_PATHS.get(key)
    if paths is None or not isinstance(items, list):
        return items
    out = copy.deepcopy(items)
    for item in out:
        for path in paths:
            found = _secrets(item, path)
            if found is not None:
                for name in _names(found):
                    found[0][name] = MASK
    return out


def restore(key: str, items: Any, stored: Sequence[Any]) -> Any:
    """``items`` with each ``***`` secret replaced by the stored value it stands for.

    Raises:
        InvalidInputError: a ``***`` names a secret that is not stored (its field is the secret's place).
    """
    paths = _SECRET_PATHS.get(key)
    if paths is None or not isinstance(items, list):
        return items
    by_name = {item.get("name"): item for item in stored if isinstance(item, dict)}
    out = copy.deepcopy(items)
    for item in out:
        for path in paths:
            found = _secrets(item, path)
            if found is not None:
                name = item.get("name")  # anything but a string names no stored item (and may not be hashable)
                _restore_one(key, item, path, found, _secrets(by_name.get(name) if isinstance(name, str) else None,
                                                              path))
    return out


def _restore_one(key: str, item: dict[str, Any], path: tuple[str, ...], found: tuple[dict[str, Any], str | None],
                 before: tuple[dict[str, Any], str | None] | None) -> None:
    holder = found[0]
    old = before[0] if before is not None else {}
    for name in _names(found):
        if holder[name] != MASK:
            continue
        if name not in old or old[name] == MASK:
            raise InvalidInputError(
                f"{key}: {item.get('name')!r} has no stored value for {name!r} that '***' could stand for; "
                f"send the value itself", field=".".join(path))
        holder[name] = old[name]
