"""The template entity: the constant part of a family of log lines, its versions and its counts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opsloop.aiops.logs.masking import WILDCARD

__all__ = ["Template", "TemplateVersion"]


@dataclass(slots=True, frozen=True)
class TemplateVersion:
    """One state a template went through; version 1 is the first line that created it."""

    version: int
    text: str
    time: float


@dataclass(slots=True, eq=False)
class Template:
    """A log template: tokens with ``<*>`` where the lines vary.

    The ``id`` never changes once a line has been assigned to it; when a new line makes the
    template more general, ``version`` grows and the previous text stays in ``versions``.

    Attributes:
        id: stable identifier, unique within a miner.
        service: the service whose lines it groups (``""`` when unknown).
        tokens: the template, one entry per whitespace-separated token.
        count: lines assigned so far.
        first_seen, last_seen: the earliest and latest event time (seconds since the epoch) of its lines,
            whatever order they came in.
        examples: a few raw lines (bounded).
        versions: the template's history, oldest first (bounded; the current one is last).
        buckets: line counts per time bucket start (bounded; see ``MinerConfig.bucket_seconds``).
        levels: line counts per log level (``ERROR``, ``INFO``…), when the level is known.
        merged_into: set when the template was merged into a more general sibling; its id
            then resolves to that one (``LogMiner.resolve``).
    """

    id: int
    service: str
    tokens: list[str]
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    examples: list[str] = field(default_factory=list)
    versions: list[TemplateVersion] = field(default_factory=list)
    buckets: dict[int, int] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    merged_into: int | None = None

    @property
    def text(self) -> str:
        """The template as one string, variables as ``<*>``."""
        return " ".join(self.tokens)

    @property
    def version(self) -> int:
        return self.versions[-1].version if self.versions else 1

    @property
    def wildcard_positions(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if WILDCARD in t]

    def series(self, since: float | None = None) -> list[tuple[int, int]]:
        """Line counts over time: ``(bucket_start, count)`` pairs, oldest first."""
        return sorted((k, v) for k, v in self.buckets.items() if since is None or k >= since)

    def parameters(self, message: str) -> list[str]:
        """The values the template's ``<*>`` stand for in ``message`` (``[]`` if it does not fit)."""
        parts = message.split()
        if len(parts) != len(self.tokens):
            return []
        values: list[str] = []
        for token, part in zip(self.tokens, parts, strict=True):
            if token == WILDCARD:
                values.append(part)
            elif WILDCARD in token:
                found = _token_regex(token).fullmatch(part)
                values.extend(found.groups() if found else (part,))
        return values

    def parameter_examples(self) -> list[list[str]]:
        """The parameters of each kept example line (lines that no longer fit are skipped)."""
        found = (self.parameters(line) for line in self.examples)
        return [values for values in found if values]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "template": self.text,
            "tokens": list(self.tokens),
            "version": self.version,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "examples": list(self.examples),
            "versions": [[v.version, v.text, v.time] for v in self.versions],
            "buckets": [[k, v] for k, v in self.buckets.items()],
            "levels": dict(self.levels),
            "merged_into": self.merged_into,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Template:
        return cls(
            id=int(data["id"]),
            service=str(data.get("service", "")),
            tokens=list(data["tokens"]),
            count=int(data.get("count", 0)),
            first_seen=float(data.get("first_seen", 0.0)),
            last_seen=float(data.get("last_seen", 0.0)),
            examples=list(data.get("examples", [])),
            versions=[TemplateVersion(int(v), str(t), float(s)) for v, t, s in data.get("versions", [])],
            buckets={int(k): int(v) for k, v in data.get("buckets", [])},
            levels={str(k): int(v) for k, v in data.get("levels", {}).items()},
            merged_into=data.get("merged_into"),
        )

    def absorb(self, other: Template, max_examples: int) -> None:
        """Add ``other``'s counts, buckets, levels and examples to this template."""
        self.count += other.count
        if other.first_seen and (not self.first_seen or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        for level, n in other.levels.items():
            self.levels[level] = self.levels.get(level, 0) + n
        for line in other.examples:
            if len(self.examples) >= max_examples:
                break
            if line not in self.examples:
                self.examples.append(line)


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _token_regex(token: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(token)
    if found is None:
        body = "(.*?)".join(re.escape(piece) for piece in token.split(WILDCARD))
        found = re.compile(body, re.DOTALL)
        if len(_REGEX_CACHE) > 4096:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[token] = found
    return found
