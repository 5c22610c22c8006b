"""Checkpointed detector state restored lazily, shared by ``MetricWatch`` (series) and ``ServiceWatch``
(groups).

A restored entry is kept ``Pending`` (its rule and its checkpoint as read) in the watch's entries,
which are in recency order (least recently updated first), and listed in the watch's ``unbuilt`` index
in the same order. It is built on its next point (``resume_pending``) or ahead of it by
``warm_pending``, the most recently updated first; built or pending, it keeps its place, scores,
counts and checkpoints the same.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import orjson

from opsloop.aiops.detection.ledger import ChangeLedger
from opsloop.errors import InvalidInputError

__all__ = ["Pending", "evict_past", "resume_pending", "warm_pending"]

log = logging.getLogger("opsloop.aiops.detection")

_K = TypeVar("_K", bound=Hashable)
_R = TypeVar("_R")
_V = TypeVar("_V")

# what a checkpoint that does not load raises while it is built
_UNREADABLE = (KeyError, IndexError, TypeError, ValueError, AttributeError, InvalidInputError)


class Pending(Generic[_R]):
    """An entry restored from its checkpoint and not yet built."""

    __slots__ = ("rule", "checkpoint")

    def __init__(self, rule: _R, checkpoint: Mapping[str, Any]) -> None:
        self.rule = rule
        self.checkpoint = checkpoint

    @classmethod
    def of(cls, rule: _R, item: Mapping[str, Any], parts: Sequence[str]) -> Pending[_R]:
        """``item`` held pending in today's form: a checkpoint written before ``learned`` (its learned
        ``parts`` at the top level) gets them as that one JSON string, which a pending entry holds in a
        fraction of the memory of the parsed parts."""
        if "learned" in item:
            return cls(rule, item)
        head = {k: v for k, v in item.items() if k not in parts}
        head["learned"] = orjson.dumps({k: item.get(k) for k in parts}).decode()
        return cls(rule, head)


def evict_past(entries: OrderedDict[_K, Any], unbuilt: dict[_K, None], ledger: ChangeLedger[_K],
               maximum: int) -> None:
    """Drop the least recently updated entries past ``maximum`` (pending ones unbuilt)."""
    while len(entries) > maximum:
        evicted, _ = entries.popitem(last=False)
        unbuilt.pop(evicted, None)
        ledger.dropped(evicted)


def resume_pending(entries: OrderedDict[_K, Any], unbuilt: dict[_K, None], ledger: ChangeLedger[_K], key: _K,
                   rule_name: str, build: Callable[[], _V], what: str) -> _V | None:
    """Build the pending entry ``key`` with ``build``; one whose checkpoint does not load is logged and
    forgotten (``None``: the point starts it afresh, as if it had never been checkpointed). Either way
    it keeps its place among the entries, and it learned nothing."""
    unbuilt.pop(key, None)
    try:
        built = build()
    except _UNREADABLE as exc:
        log.warning("checkpoint of a %r %s not restored: %s", rule_name, what, exc)
        del entries[key]
        ledger.dropped(key)  # its checkpoint is deleted, or overwritten if the entry starts again
        return None
    entries[key] = built
    return built


def warm_pending(entries: Mapping[_K, Any], unbuilt: dict[_K, None], resume: Callable[[_K, Pending[Any]], object],
                 limit: int | None, budget_s: float | None) -> bool:
    """Build pending entries ahead of their next point with ``resume``, the most recently updated
    first: at most ``limit`` of them, and (when given) until ``budget_s`` seconds have passed, one at
    least. Returns whether pending entries are left."""
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    built = 0
    while unbuilt and (limit is None or built < limit):
        key, _ = unbuilt.popitem()  # the last restored of those left: the most recently updated
        pending = entries.get(key)
        if isinstance(pending, Pending):  # always: ``unbuilt`` lists the pending entries only
            resume(key, pending)
        built += 1
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return bool(unbuilt)
