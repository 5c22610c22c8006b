"""MLflow's search grammar: filter strings, order_by clauses and page tokens.

A filter is clauses joined by ``AND``: ``metrics.acc > 0.9 AND params.model = 'rf'
AND tags.`team name` LIKE 'ml%' AND attributes.status = 'FINISHED' AND run_id IN ('a', 'b')``.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from opsloop.errors import InvalidInputError

__all__ = ["Clause", "FilterParser", "OrderBy", "decode_page_token", "encode_page_token", "parse_filter", "parse_order_by"]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
    | (?P<op>!=|>=|<=|=|<|>|\(|\)|,)
    | (?P<ident>(?:(?:[A-Za-z_][\w]*|`[A-Za-z_][\w]*`)\.)?(?:`[^`]+`|"[^"]+"|[\w][\w.\-/:]*))
    )""",
    re.VERBOSE,
)

_ENTITY_ALIASES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}

RUN_ATTRIBUTES = {
    "run_id": "run_uuid", "run_uuid": "run_uuid", "run_name": "name", "status": "status",
    "user_id": "user_id", "artifact_uri": "artifact_uri", "start_time": "start_time",
    "end_time": "end_time", "created": "start_time", "Created": "start_time",
    "lifecycle_stage": "lifecycle_stage",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
EXPERIMENT_ATTRIBUTES = {
    "name": "name", "creation_time": "creation_time", "last_update_time": "last_update_time",
    "experiment_id": "experiment_id",
}
EXPERIMENT_NUMERIC_ATTRIBUTES = {"creation_time", "last_update_time"}
LOGGED_MODEL_ATTRIBUTES = {
    "name": "name", "model_id": "model_id", "source_run_id": "source_run_id", "status": "status",
    "model_type": "model_type", "creation_timestamp": "creation_timestamp_ms",
    "creation_time": "creation_timestamp_ms", "last_updated_timestamp": "last_updated_timestamp_ms",
}
LOGGED_MODEL_NUMERIC_ATTRIBUTES = {"creation_timestamp_ms", "last_updated_timestamp_ms"}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"}
_NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}


@dataclass(frozen=True, slots=True)
class Clause:
    """One comparison: ``entity`` is metric/param/tag/attribute/dataset."""

    entity: str
    key: str
    op: str
    value: object


@dataclass(frozen=True, slots=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        inner = text[1:-1]
        return inner.replace("''", "'") if text[0] == "'" else inner
    return text


def _split_identifier(ident: str, default_entity: str = "attribute") -> tuple[str, str]:
    m = re.match(r"^(`?)([A-Za-z_]\w*)\1\.(.+)$", ident)  # the entity may be in backticks: `tags`.`k`
    if m and m.group(2).lower() in _ENTITY_ALIASES:
        return _ENTITY_ALIASES[m.group(2).lower()], _unquote(m.group(3))
    return default_entity, _unquote(ident)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidInputError(f"Invalid filter {text!r}: unexpected text at {text[pos:pos + 20]!r}",
                                    field="filter")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class FilterParser:
    """MLflow's search-filter grammar (``a.b = 'x' AND c > 1``) over given attributes; a store with its
    own identifiers (traces: ``tags.``, ``metadata.``) subclasses it and overrides ``clause``."""

    def __init__(self, text: str, attributes: dict[str, str], numeric: set[str]) -> None:
        self.attributes = attributes
        self.numeric = numeric
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def error(self, what: str) -> InvalidInputError:
        return InvalidInputError(f"Invalid filter {self.text!r}: {what}", field="filter")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end")
        self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "ident" and tok[1].upper() in words:
            self.i += 1
            return True
        return False

    def clauses(self) -> list[Clause]:
        out = [self.clause()]
        while (tok := self.peek()) is not None:
            if not self.word("AND"):
                raise self.error(f"expected AND, got {tok[1]!r} (only AND is supported)")
            out.append(self.clause())
        return out

    def comparator(self) -> str:
        if self.word("IS"):
            if self.word("NOT"):
                if not self.word("NULL"):
                    raise self.error("expected NULL")
                return "IS NOT NULL"
            if not self.word("NULL"):
                raise self.error("expected NULL")
            return "IS NULL"
        if self.word("NOT"):
            if not self.word("IN"):
                raise self.error("expected IN after NOT")
            return "NOT IN"
        for w in ("LIKE", "ILIKE", "IN"):
            if self.word(w):
                return w
        kind, text = self.take()
        if kind != "op" or text in "(),":
            raise self.error(f"expected a comparator, got {text!r}")
        return text

    def value(self, op: str) -> object:
        if op in ("IS NULL", "IS NOT NULL"):
            return None
        if op in ("IN", "NOT IN"):
            kind, text = self.take()
            if text != "(":
                raise self.error("expected ( after IN")
            items = []
            while True:
                kind, text = self.take()
                if kind != "string":
                    raise self.error("IN takes a list of quoted strings")
                items.append(_unquote(text))
                kind, text = self.take()
                if text == ")":
                    return tuple(items)
                if text != ",":
                    raise self.error("expected , or )")
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return float(text)
        raise self.error(f"expected a value, got {text!r}")

    def clause(self) -> Clause:
        kind, ident = self.take()
        if kind != "ident":
            raise self.error(f"expected an identifier, got {ident!r}")
        entity, key = _split_identifier(ident)
        op = self.comparator()
        return self.checked(Clause(entity, key, op, self.value(op)))

    def checked(self, clause: Clause) -> Clause:
        entity, key, op, value = clause.entity, clause.key, clause.op, clause.value
        error = self.error
        if entity == "attribute":
            if key not in self.attributes:
                raise error(f"unknown attribute {key!r}")
            col = self.attributes[key]
            if col in self.numeric:
                if op not in _NUMERIC_OPS or not isinstance(value, float):
                    raise error(f"attribute {key!r} needs a numeric comparison")
            elif op not in _STRING_OPS or isinstance(value, float):
                raise error(f"attribute {key!r} needs a quoted string and a string comparator")
            return Clause(entity, col, op, value)
        return _checked(clause, error)


def _checked(clause: Clause, error) -> Clause:  # noqa: ANN001
    entity, key, op, value = clause.entity, clause.key, clause.op, clause.value
    if entity == "metric":
        if op not in _NUMERIC_OPS or not isinstance(value, float):
            raise error(f"metric {key!r} needs a numeric comparison")
    elif entity == "dataset":
        if key not in ("name", "digest", "context") or op not in _STRING_OPS:
            raise error(f"invalid dataset clause on {key!r}")
    elif op not in _STRING_OPS or isinstance(value, float):
        raise error(f"{entity} {key!r} needs a quoted string value and a string comparator")
    return clause


def parse_filter(
    text: str | None,
    attributes: dict[str, str] = RUN_ATTRIBUTES,
    numeric: set[str] = NUMERIC_ATTRIBUTES,
) -> list[Clause]:
    """Parse an MLflow search filter into clauses (empty for no filter).

    ``attributes`` maps the attribute names the filter may use to column names; the defaults are
    the run attributes, ``EXPERIMENT_ATTRIBUTES`` serves experiment search.
    """
    if text is None or not text.strip():
        return []
    return FilterParser(text, attributes, numeric).clauses()


def parse_order_by(items: list[str] | None) -> list[OrderBy]:
    """Parse ``["metrics.acc DESC", "attributes.start_time"]``."""
    out: list[OrderBy] = []
    for raw in items or []:
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInputError(f"Invalid order_by clause {raw!r}", field="order_by")
        m = re.match(r"^\s*(.+?)(?:\s+(ASC|DESC))?\s*$", raw, re.IGNORECASE)
        ident = m.group(1) if m else raw
        if re.search(r"\s", re.sub(r"`[^`]*`|\"[^\"]*\"", "", ident)):  # "metrics.acc SIDEWAYS"
            raise InvalidInputError(f"Invalid order_by clause {raw!r}: expected KEY [ASC|DESC] (quote a key "
                                    f"with spaces in backticks)", field="order_by")
        ascending = not (m and m.group(2) and m.group(2).upper() == "DESC")
        entity, key = _split_identifier(ident.strip())
        if entity == "attribute":
            if key not in RUN_ATTRIBUTES:
                raise InvalidInputError(f"Invalid order_by clause {raw!r}: unknown attribute {key!r}",
                                        field="order_by")
            key = RUN_ATTRIBUTES[key]
        elif entity == "dataset":
            raise InvalidInputError(f"Invalid order_by clause {raw!r}", field="order_by")
        out.append(OrderBy(entity, key, ascending))
    return out


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


_MAX_OFFSET = 2**62  # beyond any table, and an offset plus a page still fits SQL's 64-bit integers


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["offset"])
    except Exception as exc:
        raise InvalidInputError("Invalid page token", field="page_token") from exc
    if not 0 <= offset <= _MAX_OFFSET:
        raise InvalidInputError("Invalid page token", field="page_token")
    return offset
