"""Finding the template a masked line belongs to, within one service.

Templates are indexed by token count (a prefix tree of depth one, as in Drain, without
Drain's first-token split, which breaks when a line starts with a variable). A line joins the
template whose tokens it agrees with most, if that agreement reaches the similarity threshold
and the line differs from the template's constants only in *variable-looking* tokens (tokens
with digits, or punctuation-only tokens). Two different plain words are never unified on one
line's evidence: ``Failed``/``Accepted`` and ``x+``/``y+`` stay apart. A position whose words
really vary (user names, hosts) is found by the sibling rule: once ``sibling_merge`` templates
agree everywhere except at one word position (not the first), they are merged and that
position becomes ``<*>``.
"""

from __future__ import annotations

from opsloop.aiops.logs.masking import WILDCARD, generalise_token
from opsloop.aiops.logs.templates import Template

__all__ = ["ServiceIndex", "generalise", "is_word", "similarity"]

_NO_MATCH = -1.0
_HOLE = "\x00"


_WORDS: dict[str, bool] = {}
_WORDS_LIMIT = 100_000


def is_word(token: str) -> bool:
    """A token that reads as a constant word: has a letter, no digit, no wildcard."""
    known = _WORDS.get(token)
    if known is None:
        known = (
            WILDCARD not in token
            and not any(ch.isdigit() for ch in token)
            and any(ch.isalpha() for ch in token)
        )
        if len(_WORDS) >= _WORDS_LIMIT:
            _WORDS.clear()
        _WORDS[token] = known
    return known


def similarity(template: list[str], tokens: list[str]) -> float:
    """Share of positions where ``tokens`` agree with ``template``; ``-1`` if a word differs.

    A wildcard position agrees with anything but counts half, so that a template made mostly
    of wildcards does not swallow every line of its length.
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
        elif is_word(t) and is_word(x):
            return _NO_MATCH
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


def sibling_keys(tokens: list[str]) -> list[tuple[int, str]]:
    """One key per word position but the first: the template with that position blanked out.

    The first token is left out as in Drain: a message rarely starts with a variable, and
    merging there would leave one-word messages (``normal``, ``warning``) a single ``<*>``.
    """
    keys = []
    for p, token in enumerate(tokens):
        if p and is_word(token):
            keys.append((p, _HOLE.join(tokens[:p]) + _HOLE + "\x01" + _HOLE + _HOLE.join(tokens[p + 1 :])))
    return keys


class ServiceIndex:
    """The templates of one service, by token count, with its bounded caches."""

    __slots__ = (
        "by_length",
        "line_cache",
        "shape_cache",
        "masked_cache",
        "overflow_id",
        "siblings",
        "keys_of",
    )

    def __init__(self) -> None:
        self.by_length: dict[int, list[Template]] = {}
        self.line_cache: dict[str, int] = {}
        self.shape_cache: dict[str, int] = {}
        self.masked_cache: dict[str, int] = {}
        self.overflow_id: int | None = None
        self.siblings: dict[str, set[int]] = {}
        self.keys_of: dict[int, list[tuple[int, str]]] = {}

    def best(self, tokens: list[str], threshold: float) -> Template | None:
        """The most similar template of the same length, if it reaches ``threshold``."""
        best: Template | None = None
        best_score = threshold
        for candidate in self.by_length.get(len(tokens), ()):
            score = similarity(candidate.tokens, tokens)
            if score > best_score or (score == best_score and best is None):
                best, best_score = candidate, score
        return best

    def add(self, template: Template, max_tokens_for_siblings: int) -> None:
        self.by_length.setdefault(len(template.tokens), []).append(template)
        self.register(template, max_tokens_for_siblings)

    def remove(self, template: Template) -> None:
        group = self.by_length.get(len(template.tokens), [])
        if template in group:
            group.remove(template)
        self.unregister(template)

    def register(self, template: Template, max_tokens_for_siblings: int) -> None:
        if len(template.tokens) > max_tokens_for_siblings:
            return
        keys = sibling_keys(template.tokens)
        self.keys_of[template.id] = keys
        for _, key in keys:
            self.siblings.setdefault(key, set()).add(template.id)

    def unregister(self, template: Template) -> None:
        for _, key in self.keys_of.pop(template.id, ()):
            members = self.siblings.get(key)
            if members is not None:
                members.discard(template.id)
                if not members:
                    del self.siblings[key]

    def sibling_group(self, template: Template, size: int) -> tuple[int, list[int]] | None:
        """A word position and at least ``size`` template ids that differ only there."""
        for p, key in self.keys_of.get(template.id, ()):
            members = self.siblings.get(key)
            if members is not None and len(members) >= size:
                return p, sorted(members)
        return None

    def templates(self) -> list[Template]:
        return [t for group in self.by_length.values() for t in group]

    def size(self) -> int:
        """How many live templates the service has."""
        return sum(len(group) for group in self.by_length.values())
