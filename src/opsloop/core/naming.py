"""Names that identify an item of a configuration document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsloop.errors import InvalidInputError

__all__ = ["named_once"]


def named_once(key: str, items: Sequence[Any], what: str = "rule") -> None:
    """Refuse a document (under configuration ``key``) naming two of its ``items`` alike, naming the later
    one: what is kept of an item — a rule's breach state, a pull's schedule, a target's queue, a runbook's
    runs — is kept by its name, so the two would share it.

    Raises:
        InvalidInputError: with ``field="name"``.
    """
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            raise InvalidInputError(f"{key}[{i}]: a {what} named {item.name!r} comes before it", field="name")
        seen.add(item.name)
