"""Silences and maintenance windows with Alertmanager's matchers.

A matcher is ``name="value"``, ``name!="value"``, ``name=~"regex"`` or ``name!~"regex"`` (regexes are
anchored, as in Alertmanager), given as text (``{service="db", severity=~"warn|crit"}``) or as
Alertmanager API objects (``{"name", "value", "isRegex", "isEqual"}``). A signal is silenced when all
matchers of an active silence match its labels (``service`` is matched too, even if not a label).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsloop.errors import InvalidInputError

__all__ = ["Matcher", "Silence", "Silences", "parse_matchers", "silence_matchers"]

# a matcher in text: ``name op "value"`` (escapes inside the quotes), or an unquoted value up to the next
# comma or brace, as Alertmanager and amtool also take (``service=db``, ``alertname=~Disk.*``)
_TEXT = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s",{}]+))\s*,?')
_UNESCAPE = re.compile(r'\\([\\"])')  # \" and \\ in a quoted value; other escapes (\d in a regex) stay


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _re: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in ("=", "!=", "=~", "!~"):
            raise InvalidInputError(f"unknown matcher operator {self.op!r}", field="matchers")
        if self.op in ("=~", "!~"):
            try:
                # anchored by ``fullmatch``, not by a ``(?:…)`` around it, which would refuse a regex with its
                # flags first (``(?i)disk.*``), as Alertmanager (Go's ``^(?:…)$``) takes it
                object.__setattr__(self, "_re", re.compile(self.value))
            except re.error as exc:
                raise InvalidInputError(f"bad regex {self.value!r}: {exc}", field="matchers") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = self._re.fullmatch(v) is not None
        return hit if self.op == "=~" else not hit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": "~" in self.op, "isEqual": not self.op.startswith("!")}

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{value}"'


def parse_matchers(spec: Any) -> list[Matcher]:
    """Matchers from text, a list of texts, or a list of Alertmanager matcher objects."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        out, pos = [], 0
        while pos < len(text.rstrip()):
            m = _TEXT.match(text, pos)
            if not m:
                raise InvalidInputError(f"cannot parse matcher at {text[pos:]!r}", field="matchers")
            value = _UNESCAPE.sub(r"\1", m.group(3)) if m.group(3) is not None else m.group(4)
            out.append(Matcher(m.group(1), m.group(2), value))
            pos = m.end()
        return out
    if isinstance(spec, list):
        out = []
        for item in spec:
            if isinstance(item, str):
                out.extend(parse_matchers(item))
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                regex, equal = bool(item.get("isRegex", False)), bool(item.get("isEqual", True))
                op = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
                out.append(Matcher(item["name"], op, str(item.get("value", ""))))
            else:
                raise InvalidInputError("each matcher must be a string or {name, value, isRegex}", field="matchers")
        return out
    raise InvalidInputError("matchers must be a string or a list", field="matchers")


def silence_matchers(spec: Any) -> list[Matcher]:
    """The matchers of a new silence (as ``parse_matchers`` takes them): at least one, and one of them
    must not match an empty value, as Alertmanager requires (``severity=~".*"`` alone would mute every
    alert, for an alert without a label matches as if its value were empty)."""
    matchers = parse_matchers(spec)
    if not matchers:
        raise InvalidInputError("a silence needs at least one matcher", field="matchers")
    if all(m.matches({}) for m in matchers):
        raise InvalidInputError("at least one matcher must not match the empty string (these would mute every "
                                "alert)", field="matchers")
    return matchers


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass
class Silence:
    """A silence (ad hoc) or a maintenance window (planned); same matching, different intent."""

    id: int
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    kind: str = "silence"
    created_by: str = ""
    comment: str = ""
    created_at: float = 0.0

    def active(self, t: float) -> bool:
        return self.starts_at <= t < self.ends_at

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        # ended first: a pending silence expired before its start (amtool silence expire) is expired, as in
        # Alertmanager, not pending for ever
        state = "expired" if now is None or now >= self.ends_at else ("pending" if now < self.starts_at else "active")
        return {
            "id": self.id, "kind": self.kind, "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at, "ends_at": self.ends_at, "created_by": self.created_by,
            "comment": self.comment, "created_at": self.created_at, "state": state,
        }


class Silences:
    """The silences currently known; ``match`` returns the one muting a signal at its time, if any."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._items: dict[int, Silence] = {s.id: s for s in silences}

    def put(self, silence: Silence) -> None:
        self._items[silence.id] = silence

    def get(self, silence_id: int) -> Silence | None:
        return self._items.get(silence_id)

    def remove(self, silence_id: int) -> None:
        self._items.pop(silence_id, None)

    def __len__(self) -> int:
        return len(self._items)

    def match(self, labels: Mapping[str, str], service: str, t: float) -> Silence | None:
        if not self._items:
            return None
        view = dict(labels)
        view.setdefault("service", service)
        for s in self._items.values():
            if s.active(t) and matches_all(s.matchers, view):
                return s
        return None
