"""Which watched streams changed since the last checkpoint, and which were dropped: what a store of
per-stream checkpoints needs to be brought up to date without rewriting every stream each time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, MutableMapping
from itertools import islice
from typing import Any, Generic, TypeVar

__all__ = ["ChangeLedger", "adopt_streams", "signature"]

K = TypeVar("K", bound=Hashable)


class ChangeLedger(Generic[K]):
    """Keys that learned (``changed``, oldest change first: mark one with ``changed[key] = None``) and keys
    that were dropped (``gone``) since the last ``take``."""

    __slots__ = ("changed", "gone")

    def __init__(self) -> None:
        self.changed: dict[K, None] = {}
        self.gone: set[K] = set()

    def added(self, key: K) -> None:
        self.changed[key] = None
        self.gone.discard(key)

    def dropped(self, key: K) -> None:
        self.changed.pop(key, None)
        self.gone.add(key)

    def take(self, limit: int | None = None) -> tuple[list[K], set[K]]:
        """The changed keys (the ``limit`` that changed first, when given: the rest stay for the next
        call, so every key gets its turn) and the gone ones."""
        if limit is None or len(self.changed) <= limit:
            changed, self.changed = list(self.changed), {}
        else:
            changed = list(islice(self.changed, limit))
            for key in changed:
                del self.changed[key]
        gone, self.gone = self.gone, set()
        return changed, gone

    def inherit(self, previous: ChangeLedger[K], previous_keys: Iterable[K], kept: set[K]) -> None:
        """Carry over a replaced watch's ledger: of its streams (``previous_keys``), the ``kept`` ones stay
        changed if they were; every other one is gone."""
        self.changed.update((key, None) for key in previous.changed if key in kept)
        self.gone |= (set(previous_keys) | previous.gone) - kept


def signature(definition: Mapping[str, Any]) -> str:
    """A digest of a rule's definition: a checkpoint taken under another definition is not restored."""
    return hashlib.sha1(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:16]


def adopt_streams(rules: Iterable[Any], previous: Mapping[K, Any], previous_ledger: ChangeLedger[K],
                  into: MutableMapping[K, Any], ledger: ChangeLedger[K]) -> None:
    """Move a replaced watch's streams (each with a ``rule``) whose rule is still defined the same way
    (same name and ``signature``) into the new watch's ``into``; the ledger counts the others as gone."""
    by_name = {r.name: r for r in rules}
    for key, stream in previous.items():
        rule = by_name.get(stream.rule.name)
        if rule is not None and rule.signature == stream.rule.signature:
            stream.rule = rule
            into[key] = stream
    ledger.inherit(previous_ledger, previous, set(into))
