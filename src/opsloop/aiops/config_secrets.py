"""Secret values in the pipeline settings: shown masked, kept when the mask is written back.

Two settings carry secrets: a notification target's ``headers`` (an ``Authorization`` token, say)
and a runbook action's ``env``. Read over the API, each such value shows as ``***``. Written back
with ``***`` in place of a value, the stored value is kept (matched by the target's or runbook's
``name`` and the header's or variable's name), so a client can read a setting, change one field and
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

# setting -> where its secrets sit inside one item
_SECRET_PATHS: dict[str, tuple[str, ...]] = {"notification_targets": ("headers",), "runbooks": ("action", "env")}


def _secrets(item: Any, path: tuple[str, ...]) -> dict[str, Any] | None:
    node = item
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


def mask(key: str, items: Any) -> Any:
    """A copy of setting ``key`` with every secret value replaced by ``***``."""
    path = _SECRET_PATHS.get(key)
    if path is None or not isinstance(items, list):
        return items
    out = copy.deepcopy(items)
    for item in out:
        found = _secrets(item, path)
        if found is not None:
            for name in found:
                found[name] = MASK
    return out


def restore(key: str, items: Any, stored: Sequence[Any]) -> Any:
    """``items`` with each ``***`` secret replaced by the stored value it stands for.

    Raises:
        InvalidInputError: a ``***`` names a secret that is not stored (its field is the secret's place).
    """
    path = _SECRET_PATHS.get(key)
    if path is None or not isinstance(items, list):
        return items
    before = {item.get("name"): _secrets(item, path) or {} for item in stored if isinstance(item, dict)}
    out = copy.deepcopy(items)
    for item in out:
        found = _secrets(item, path)
        if not found:
            continue
        old = before.get(item.get("name"), {})
        for name, value in found.items():
            if value != MASK:
                continue
            if name not in old or old[name] == MASK:
                raise InvalidInputError(
                    f"{key}: {item.get('name')!r} has no stored value for {name!r} that '***' could stand for; "
                    f"send the value itself", field=".".join(path))
            found[name] = old[name]
    return out
