"""Finding the template a masked line belongs to, within one service.

Templates are indexed by token count (a prefix tree of depth one, as in Drain, without
Drain's first-token split, which breaks when a line starts with a variable). Within a
length, the line joins the template whose constant tokens it agrees with most, if that
agreement reaches the similarity threshold.
"""

from __future__ import annotations

from opsloop.aiops.logs.masking import WILDCARD, generalise_token
from opsloop.aiops.logs.templates import Template

__all__ = ["ServiceIndex", "generalise", "similarity"]


def _is_word(token: str) -> bool:
    return token.isalpha()


def similarity(template: list[str], tokens: list[str]) -> float:
    """Share of positions where ``tokens`` agree with ``template`` (same length assumed).

    A wildcard position agrees with anything but counts half: a template that is mostly
    wildcards must not swallow every line of its length. A disagreement on two plain words
    counts double, because words are far more often constants than variables.
    """
    n = len(template)
    if n == 0:
        return 1.0
    score = 0.0
    for t, x in zip(template, tokens, strict=True):
        if t == x:
            score += 1.0
        elif t == WILDCARD:
            score += 0.5
        elif _is_word(t) and _is_word(x):
            score -= 1.0
    return score / n


def generalise(template: list[str], tokens: list[str]) -> list[str] | None:
    """The template widened to cover ``tokens``, or ``None`` when it already does."""
    changed = False
    out = template
    for i, (t, x) in enumerate(zip(template, tokens, strict=True)):
        if t == x or t == WILDCARD:
            continue
        g = generalise_token(t, x)
        if g != t:
            if not changed:
                out = list(template)
                changed = True
            out[i] = g
    return out if changed else None


class ServiceIndex:
    """The templates of one service, by token count, with its bounded caches."""

    __slots__ = ("by_length", "line_cache", "masked_cache", "overflow_id")

    def __init__(self) -> None:
        self.by_length: dict[int, list[Template]] = {}
        self.line_cache: dict[str, int] = {}
        self.masked_cache: dict[str, int] = {}
        self.overflow_id: int | None = None

    def best(self, tokens: list[str], threshold: float) -> Template | None:
        """The most similar template of the same length, if it reaches ``threshold``."""
        best: Template | None = None
        best_score = threshold
        for candidate in self.by_length.get(len(tokens), ()):
            score = similarity(candidate.tokens, tokens)
            if score > best_score or (score == best_score and best is None):
                best, best_score = candidate, score
        return best

    def add(self, template: Template) -> None:
        self.by_length.setdefault(len(template.tokens), []).append(template)

    def templates(self) -> list[Template]:
        return [t for group in self.by_length.values() for t in group]
