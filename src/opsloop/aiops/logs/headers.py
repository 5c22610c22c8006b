"""Separating header fields (time, level, component…) from the message of a raw log line.

Two ways: recognise common layouts (ISO/log4j, syslog, Apache/ctime, compact and slash
dates, a level keyword after a numeric header), or follow a format string the user gives,
in Loghub's notation: ``<Date> <Time> <Level> <Component>: <Content>``. Either way the result
is a ``LogRecord``; a line nothing recognises keeps the whole line as its message. Where no header
gave a level, one written as a field is read (logfmt ``level=error``, JSON ``"level": "error"`` or
pino's ``"level": 50``, Python's ``ERROR:root:`` and `` - ERROR - ``, klog's ``E1207``); the message
stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from opsloop.errors import InvalidInputError

__all__ = ["HeaderParser", "LogFormat", "LogRecord", "is_error_level", "normal_level"]

_LEVEL_WORDS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRITICAL|CRIT|ALERT|EMERG|PANIC"
_LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR", "CRIT": "CRITICAL", "EMERG": "EMERGENCY",
                  "EROR": "ERROR", "DBUG": "DEBUG", "TRCE": "TRACE"}  # the last three: log15's lvl=eror
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
# The CRI log format of Kubernetes nodes (/var/log/pods/…, tailed without a cri stage): time, stream, a full
# (F) or partial (P) line tag, then the container's own line, whose header is then read as any line's.
_CRI = re.compile(
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (?P<stream>stdout|stderr) (?P<tag>[FP]) "
)
# What a level-led line must contain: a level word between white space. Most lines have none, and this
# search is cheaper than the layout's own pattern (which tries each of the first words as a header).
_LEVEL_WORD = re.compile(rf"\s(?:{_LEVEL_WORDS})\s")
# A level written as a field where no layout found one: logfmt's level=error (logrus, go-kit, slog), a JSON
# "level"/"severity" (zap, structlog; pino's and bunyan's numbers), Python's "ERROR:root:" and
# "<time> - <name> - ERROR - ", klog's "E1207 19:30:00.123456". The line stays the message. Each pattern
# runs only on lines holding what it needs (a substring test costs far less than a search).
_KEYED_LEVEL = re.compile(  # starts with a literal: much faster to search for than a leading boundary
    r'(?:levelname|level|lvl|severity|LEVEL|Level|SEVERITY|Severity)(?P<quoted>"?)[ \t]*[=:][ \t]*"?'
    rf"(?:(?P<word>(?i:{_LEVEL_WORDS}|EROR|DBUG|TRCE))(?![A-Za-z])|(?P<number>[1-6]0)(?![0-9]))"
)
_KEY_STARTS = frozenset(' \t{,".')  # what may stand before a level key (log.level: ECS)
_PYTHON_LEVEL = re.compile(rf"(?P<word>{_LEVEL_WORDS}):")
_DASHED_LEVEL = re.compile(rf"\s-\s(?P<word>{_LEVEL_WORDS})\s-\s")
_KLOG_HEADER = re.compile(r"[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s")
_NUMBERED = {"1": "TRACE", "2": "DEBUG", "3": "INFO", "4": "WARN", "5": "ERROR", "6": "FATAL"}
_KLOG = {"I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}


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
        cri = _CRI.match(line) if line[:1].isdigit() else None
        if cri is not None:  # the stream and tag were part of every message ("stdout F GET /health")
            line = line[cri.end() :]
        record = self._split(line)
        if cri is not None:
            record = replace(record, time=record.time or cri["time"], fields={**cri.groupdict(), **record.fields},
                             layout=f"cri+{record.layout}")
        if not record.level:
            level = _field_level(line)
            if level:
                return replace(record, level=level)
        return record

    def _split(self, line: str) -> LogRecord:
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


def _field_level(line: str) -> str:
    """The level a line writes as a field (``level=error``, ``"level":50``, ``E1207 …``), or ``""``."""
    keyed = "evel" in line or "EVEL" in line or "lvl" in line or "everity" in line or "EVERITY" in line
    for found in _KEYED_LEVEL.finditer(line) if keyed else ():
        at = found.start()
        if at and line[at - 1] not in _KEY_STARTS:
            continue
        number = found.group("number")
        if number is None:
            return normal_level(found.group("word"))
        if found.group("quoted"):  # a number only as JSON's "level": 50 (pino, bunyan)
            return _NUMBERED[number[0]]
    head = line[:1]
    if head in _KLOG and _KLOG_HEADER.match(line):
        return _KLOG[head]
    plain = (_PYTHON_LEVEL.match(line) if head.isupper() else None) or (
        _DASHED_LEVEL.search(line) if " - " in line else None)
    return normal_level(plain.group("word")) if plain is not None else ""


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
