"""Similar past incidents: "this looked like #123, which was fixed by …".

An incident is described by its labels, its services and the words of its title and signal texts.
Similarity is a weighted sum of the Jaccard overlap of label pairs, the Jaccard overlap of services,
and the cosine of TF-IDF word vectors (IDF over the candidate set); resolved incidents with a
resolution note rank first among equals.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["IncidentProfile", "rank_similar"]

_WORD = re.compile(r"[^\W\d_]\w{1,40}")  # a letter (of any alphabet), then letters, digits or _
_STOP = frozenset("the a an of on in at to for is are was be by with and or not from this that it as".split())
_IGNORED = frozenset({"instance", "pod", "container", "id", "uid", "host"})
WEIGHTS = {"labels": 0.35, "services": 0.25, "text": 0.4}


@dataclass
class IncidentProfile:
    id: int
    title: str
    labels: set[tuple[str, str]]
    services: set[str]
    words: Counter
    resolution: str = ""

    @classmethod
    def of(cls, incident: Mapping[str, Any], texts: Iterable[str] = ()) -> IncidentProfile:
        words: Counter = Counter()
        for text in [incident.get("title", ""), *texts]:
            words.update(w.lower() for w in _WORD.findall(text or "") if w.lower() not in _STOP)
        labels = {(k, v) for k, v in (incident.get("labels") or {}).items() if k not in _IGNORED}
        return cls(int(incident["id"]), incident.get("title", ""), labels, set(incident.get("services") or []),
                   words, incident.get("resolution", "") or "")


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def rank_similar(target: IncidentProfile, candidates: Sequence[IncidentProfile], *, k: int = 5,
                 min_score: float = 0.15) -> list[dict[str, Any]]:
    """The ``k`` most similar candidates as ``{"id", "title", "score", "resolution"}``."""
    if not candidates:
        return []
    df: Counter = Counter()
    for c in (*candidates, target):
        df.update(c.words.keys())
    n = len(candidates) + 1

    def vec(words: Counter) -> dict[str, float]:
        return {w: (1 + math.log(c)) * math.log((n + 1) / (df[w] + 0.5)) for w, c in words.items()}

    tv = vec(target.words)
    tnorm = math.sqrt(sum(x * x for x in tv.values())) or 1.0
    scored = []
    for c in candidates:
        if c.id == target.id:
            continue
        cv = vec(c.words)
        cnorm = math.sqrt(sum(x * x for x in cv.values())) or 1.0
        cos = sum(v * cv.get(w, 0.0) for w, v in tv.items()) / (tnorm * cnorm)
        score = (WEIGHTS["labels"] * _jaccard(target.labels, c.labels)
                 + WEIGHTS["services"] * _jaccard(target.services, c.services)
                 + WEIGHTS["text"] * cos)
        if score >= min_score:
            scored.append((score, bool(c.resolution), c))
    scored.sort(key=lambda x: (-round(x[0], 3), not x[1], -x[2].id))
    return [{"id": c.id, "title": c.title, "score": round(s, 3), "resolution": c.resolution}
            for s, _, c in scored[:k]]
