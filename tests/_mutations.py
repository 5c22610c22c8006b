"""Random edits of a valid JSON document, for the seeded fuzz tests of the request formats."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

__all__ = ["json_paths", "mutate"]


def json_paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside ``doc`` (dict keys and list indexes), the root excluded."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    out = [path] if path else []
    for key, value in items:
        out += json_paths(value, (*path, key))
    return out


def mutate(doc: Any, r: random.Random, values: Sequence[Any], *, edits: int = 2, drop: float = 0.0) -> Any:
    """A copy of ``doc`` with 1 to ``edits`` values replaced by one of ``values`` (or, with probability
    ``drop``, a dict key removed); each edit picks among the paths of the document as edited so far."""
    out = copy.deepcopy(doc)
    for _ in range(r.randrange(1, edits + 1)):
        paths = json_paths(out)
        if not paths:
            break
        path = r.choice(paths)
        node = out
        for key in path[:-1]:
            node = node[key]
        if isinstance(node, dict) and r.random() < drop:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(r.choice(values))
    return out
