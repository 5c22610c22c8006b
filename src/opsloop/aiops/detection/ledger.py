"""Which watched streams changed since the last checkpoint, and which were dropped: what a store of
per-stream checkpoints needs to be brought up to date without rewriting every stream each time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

__all__ = ["ChangeLedger", "adopt_streams", "signature"]

K = TypeVar("K", bound=Hashable)


class ChangeLedger(Generic[K]):
    """Keys that learned (``changed``) and keys that were dropped (``gone``) since the last ``take``."""

    __slots__ = ("changed", "gone")

    def __init__(self) -> None:
        self.changed: set[K] = set()
        self.gone: set[K] = set()

    def added(self, key: K) -> None:
        self.changed.add(key)
        self.gone.discard(key)

    def dropped(self, key: K) -> None:
        self.changed.discard(key)
        self.gone.add(key)

    def take(self) -> tuple[set[K], set[K]]:
        """The changed and gone keys, and a fresh start."""
        out = self.changed, self.gone
        self.changed, self.gone = set(), set()
        return out

    def inherit(self, previous: ChangeLedger[K], previous_keys: Iterable[K], kept: set[K]) -> None:
        """Carry over a replaced watch's ledger: of its streams (``previous_keys``), the ``kept`` ones stay
        changed if they were; every other one is gone."""
        self.changed |= previous.changed & kept
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
