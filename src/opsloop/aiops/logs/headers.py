"""Separating header fields (time, level, component…) from the message of a raw log line.

Two ways: recognise common layouts (ISO/log4j, syslog, Apache/ctime, compact and slash
dates, a level keyword after a numeric header), or follow a format string the user gives,
in Loghub's notation: ``<Date> <Time> <Level> <Component>: <Content>``. Either way the result
is a ``LogRecord``; a line nothing recognises keeps the whole line as its message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from opsloop.errors import InvalidInputError

__all__ = ["HeaderParser", "LogFormat", "LogRecord", "is_error_level", "normal_level"]

_LEVEL_WORDS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRITICAL|CRIT|ALERT|EMERG|PANIC"
_LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR", "CRIT": "CRITICAL", "EMERG": "EMERGENCY"}
_ERROR_LEVELS = frozenset({"ERROR", "SEVERE", "FATAL", "CRITICAL", "ALERT", "EMERGENCY", "PANIC"})

_TIME = "|".join(
    (
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
        r"\d{2,4}/\d{2}/\d{2,4}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?",
        r"(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4}",
        r"\d{6} \d{6}",
        r"\d{10}(?:\.\d+)?",
    )
)
_SYSLOG = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2})\s+(?P<host>\S+)\s+"
    r"(?P<component>[^\s:\[\]]+)(?:\[(?P<pid>\d+)\])?:\s*(?P<message>.*)$",
    re.DOTALL,
)
_TIME_LED = re.compile(
    rf"^\[?(?P<time>{_TIME})\]?\s+(?:(?P<pid>\d+)\s+)?(?:-\s+)?"
    rf"(?:\[?(?P<level>(?i:{_LEVEL_WORDS}))\]?:?\s+)?"
    r"(?:(?P<thread>\[(?:[^\[\]]|\[[^\[\]]*\])*\])\s+)?"
    r"(?:(?P<component>[A-Za-z_$][\w$\-]*[.$][\w.$\-]*(?:\[\d+\])?):\s+)?"
    r"(?:-\s+)?(?P<message>.*)$",
    re.DOTALL,
)
_LEVEL_LED = re.compile(
    rf"^(?P<head>(?:\S+\s+){{1,8}}?)(?P<level>{_LEVEL_WORDS})\s+"
    r"(?:(?P<component>[A-Za-z_$][\w$\-]*[.$][\w.$\-]*):\s+)?(?P<message>.*)$",
    re.DOTALL,
)
_AUTO = (("syslog", _SYSLOG), ("time-led", _TIME_LED), ("level-led", _LEVEL_LED))
# What a level-led line must contain: a level word between white space. Most lines have none, and this
# search is cheaper than the layout's own pattern (which tries each of the first words as a header).
_LEVEL_WORD = re.compile(rf"\s(?:{_LEVEL_WORDS})\s")


def is_error_level(level: str) -> bool:
    """True for ERROR and worse (``FATAL``, ``CRITICAL``, ``SEVERE``…)."""
    return level in _ERROR_LEVELS


def normal_level(level: str | None) -> str:
    """Upper-case level with aliases folded (``warning`` → ``WARN``, ``err`` → ``ERROR``)."""
    if not level:
        return ""
    up = level.upper()
    return _LEVEL_ALIASES.get(up, up)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A raw line split into header fields and message.

    Attributes:
        message: the part a template is mined from.
        time: the header's time text, as written (``""`` when none).
        level: upper-case level (``INFO``, ``WARN``, ``ERROR``…; ``""`` when none).
        component: logger, process or class name (``""`` when none).
        fields: every header field found, by name.
        layout: which layout matched (``syslog``, ``time-led``, ``level-led``, ``user``, ``none``).
    """

    message: str
    time: str = ""
    level: str = ""
    component: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    layout: str = "none"


class LogFormat:
    """A user-given layout such as ``<Date> <Time> <Level> <Component>: <Content>``.

    ``<Content>`` marks the message and is required; other ``<Names>`` become fields. Names
    ``Level`` and ``Component`` fill the matching ``LogRecord`` attributes; ``Date``, ``Time``
    and ``Timestamp`` are joined into ``time``.
    """

    def __init__(self, pattern: str) -> None:
        if "<Content>" not in pattern:
            raise InvalidInputError("a log format needs a <Content> field", field="log_format")
        self.pattern = pattern
        parts = re.split(r"(<[A-Za-z_][A-Za-z0-9_]*>)", pattern)
        regex = ""
        self.names: list[str] = []
        for part in parts:
            if part.startswith("<") and part.endswith(">"):
                name = part[1:-1]
                if name in self.names:
                    raise InvalidInputError(f"field <{name}> appears twice", field="log_format")
                self.names.append(name)
                regex += f"(?P<{name}>.*)" if name == "Content" else f"(?P<{name}>.*?)"
            else:
                regex += r"\s+".join(re.escape(piece) for piece in part.split(" "))
        self._regex = re.compile("^" + regex + "$", re.DOTALL)

    def parse(self, line: str) -> LogRecord | None:
        """The record, or ``None`` when the line does not follow the format."""
        found = self._regex.match(line.strip())
        if found is None:
            return None
        values = {k: v.strip() for k, v in found.groupdict().items()}
        message = values.pop("Content")
        time = " ".join(values[k] for k in ("Date", "Time", "Timestamp") if values.get(k))
        return LogRecord(
            message=message,
            time=time,
            level=normal_level(values.get("Level")),
            component=values.get("Component", ""),
            fields=values,
            layout="user",
        )


class HeaderParser:
    """Splits raw lines into ``LogRecord``s by a user format or by recognising common layouts.

    Args:
        log_format: a ``LogFormat`` pattern; lines that do not follow it fall back to recognition.
    """

    def __init__(self, log_format: str | None = None) -> None:
        self.log_format = LogFormat(log_format) if log_format else None
        self._last: tuple[str, re.Pattern[str]] | None = None

    def parse(self, line: str) -> LogRecord:
        """The record of one line (never fails; unknown layouts keep the whole line)."""
        line = line.rstrip("\r\n")
        if self.log_format is not None:
            record = self.log_format.parse(line)
            if record is not None:
                return record
        if self._last is not None:
            record = _apply(*self._last, line)
            if record is not None:
                return record
        for name, regex in _AUTO:
            record = _apply(name, regex, line)
            if record is not None:
                self._last = (name, regex)
                return record
        return LogRecord(message=line.strip())


def _apply(name: str, regex: re.Pattern[str], line: str) -> LogRecord | None:
    if name == "level-led" and _LEVEL_WORD.search(line) is None:
        return None
    found = regex.match(line)
    if found is None:
        return None
    groups = {k: v for k, v in found.groupdict().items() if v}
    if name == "level-led" and not any(ch.isdigit() for ch in groups.get("head", "")):
        return None
    message = groups.pop("message", "").strip()
    return LogRecord(
        message=message,
        time=groups.get("time", ""),
        level=normal_level(groups.get("level")),
        component=groups.get("component", ""),
        fields=groups,
        layout=name,
    )
