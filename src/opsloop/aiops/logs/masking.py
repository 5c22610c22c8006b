"""Token-class masking: the variable kinds every log shares, replaced by ``<*>``.

Masking is part of the method, not a per-dataset setting: the same classes (URLs, paths,
IPs, UUIDs, MACs, hex, timestamps, quantities, numbers) apply to every source. A mask never spans
whitespace, so a masked message keeps the token count of the original, which lets the
miner align parameters with template positions.
"""

from __future__ import annotations

import re

__all__ = ["WILDCARD", "Masker", "generalise_token", "shape_of", "spread_json"]

WILDCARD = "<*>"

# Left/right guards: a variable starts and ends where an alphanumeric run does.
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"
_ZONE = r"(?:Z|[+-]\d{2}:?\d{2})?"

# Order matters: the first alternative that matches at a position wins.
_CLASSES: tuple[tuple[str, str], ...] = (
    ("url", r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>\[\]]*[^\s\"'<>\[\].,;:)]"),
    ("uuid", _L + r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + _R),
    ("mac", _L + r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}" + _R),
    ("ipv6", _L + r"(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}" + _R),
    ("ipv4", _L + r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?" + _R),
    ("path", r"(?<![\w./~-])~?(?:/[\w.$@%+~\-]+){1,}/?(?=[\s,;:)\]}'\"]|$)"),
    # a time's zone belongs to it: RFC 3339's Z or offset (JSON and logfmt loggers), the access log's
    # 07/Dec/2026:19:30:00 (its month a word that changes)
    (
        "date",
        _L + r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T_-]\d{1,2}[:.]\d{2}[:.]\d{2}(?:[.,]\d+)?" + _ZONE + ")?"
        r"|\d{1,2}/[A-Z][a-z]{2}/\d{4}(?::\d{2}:\d{2}:\d{2})?)" + _R,
    ),
    ("time", _L + r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?" + _ZONE + _R),
    ("hex", _L + r"0[xX][0-9a-fA-F]+" + _R),
    ("hexid", _L + r"(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}" + _R),
    (
        "quantity",  # a number with a unit: 250ms, 12.5MB, 99%
        r"(?<![A-Za-z0-9])(?<![0-9]\.)[-+]?\d+(?:\.\d+)?(?:[munµ]?s|sec|secs|min|[KkMGT]i?B|[kKMG]|[bB]|%)(?![A-Za-z0-9])",
    ),
    # A number may follow a dot (core.1234, size.....0) but not continue a dotted number (v1.2).
    ("number", r"(?<![A-Za-z0-9])(?<![0-9]\.)[-+]?\d+(?:\.\d+)*(?![A-Za-z0-9])"),
)

_CACHEABLE_TOKEN = 128
_ZERO_DIGITS = str.maketrans("0123456789", "0000000000")
_NEEDS_MASKING = re.compile(r"[0-9/]")
_ANYTHING = re.compile(r"")
_TOKEN_DELIMITERS = set(" \t,;:=|\"'[](){}<>/@#.-+_!?$&%*")


class Masker:
    """Replaces variable kinds in a message with ``<*>``.

    Args:
        kinds: the token classes to mask; ``None`` means all of them (the default method).
        extra_patterns: user regexes masked first (a variable kind specific to one source).
    """

    def __init__(
        self,
        kinds: tuple[str, ...] | None = None,
        extra_patterns: tuple[str, ...] = (),
        cache_size: int = 100_000,
    ) -> None:
        self.kinds = kinds
        self.extra_patterns = tuple(extra_patterns)
        self.cache_size = cache_size
        chosen = [p for name, p in _CLASSES if kinds is None or name in kinds]
        alternatives = [f"(?:{p})" for p in (*self.extra_patterns, *chosen)]
        self._regex = re.compile("|".join(alternatives)) if alternatives else None
        # Built-in kinds all need a digit or a slash; user patterns may need anything.
        self._worth_trying = _NEEDS_MASKING.search if not self.extra_patterns else _ANYTHING.search
        self._tokens: dict[str, str] = {}
        # User patterns may look at digit values, so shapes are only safe for the built-ins.
        self.shape_safe = not self.extra_patterns

    @staticmethod
    def kind_names() -> tuple[str, ...]:
        """The names of the built-in variable kinds, in matching order."""
        return tuple(name for name, _ in _CLASSES)

    def mask(self, message: str) -> str:
        """The message with every recognised variable replaced by ``<*>``."""
        if self._regex is None:
            return message
        return self._regex.sub(WILDCARD, message)

    def mask_tokens(self, message: str) -> list[str]:
        """``mask(message).split()``, faster: tokens are masked one by one through a cache.

        Equivalent because no mask spans whitespace; constant tokens repeat, so most of a
        line is answered by a dict lookup.
        """
        regex = self._regex
        if regex is None:
            return message.split()
        cache = self._tokens
        out = []
        for token in message.split():
            if (
                token.isdigit() and token.isascii()
            ):  # the commonest variable: no regex, and no cache pollution
                out.append(WILDCARD)
                continue
            masked = cache.get(token)
            if masked is None:
                masked = regex.sub(WILDCARD, token) if self._worth_trying(token) else token
                if len(token) <= _CACHEABLE_TOKEN:  # the cache's memory is bounded by its count
                    if len(cache) >= self.cache_size:
                        cache.clear()
                    cache[token] = masked
            out.append(masked)
        return out


def spread_json(message: str) -> str:
    """A compact JSON object spaced as ``{"k": "v", "n": 1}``; any other message as it is.

    Go's ``encoding/json``, zap, logrus, pino (and an OTLP body that is a map) write no space after a
    comma or colon, so a whole line would be one token: two lines differing in one word value could
    then never join one template. Spaced, each value is a token of its own. Only the separators next
    to a quote are spaced (``":`` and ``,"``: every key, and every value before one), by two string
    replacements: a regex that skipped string contents cost twenty times more, and the result only
    feeds the mining.
    """
    if message[:1] != "{" or '":' not in message:
        return message
    spread = message.replace('":', '": ').replace(',"', ', "')
    return spread.replace('":  ', '": ').replace(',  "', ', "')  # one space where the line had one already


def shape_of(message: str) -> str:
    """The message with every ASCII digit turned into ``0``.

    The built-in kinds only look at *whether* a character is a digit, never at its value, so
    two messages of the same shape mask alike: the miner caches templates by shape.
    """
    return message.translate(_ZERO_DIGITS)


def generalise_token(a: str, b: str) -> str:
    """The most specific token covering both ``a`` and ``b``.

    Keeps the common prefix and suffix that end on a delimiter (``(HWID=1)`` and
    ``(HWID=2)`` give ``(HWID=<*>)``; ``user`` and ``root`` give ``<*>``).
    """
    if a == b:
        return a
    if a == WILDCARD or b == WILDCARD:
        return WILDCARD
    limit = min(len(a), len(b))
    pre = 0
    for i in range(limit):
        if a[i] != b[i]:
            break
        if a[i] in _TOKEN_DELIMITERS:
            pre = i + 1
    suf = 0
    for i in range(1, limit - pre + 1):
        if a[-i] != b[-i]:
            break
        if a[-i] in _TOKEN_DELIMITERS:
            suf = i
    middle_a = a[pre : len(a) - suf]
    middle_b = b[pre : len(b) - suf]
    if not middle_a and not middle_b:
        return a
    out = a[:pre] + WILDCARD + (a[len(a) - suf :] if suf else "")
    while WILDCARD + WILDCARD in out:
        out = out.replace(WILDCARD + WILDCARD, WILDCARD)
    return out
