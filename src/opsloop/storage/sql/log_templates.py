"""Log templates in SQL: the miner's ``TemplateStore`` and its snapshot, on SQLite or PostgreSQL."""

from __future__ import annotations

import builtins
import json
import time
from typing import Any

from sqlalchemy import ColumnElement, func, select

from opsloop.aiops.logs.templates import Template
from opsloop.errors import NotFoundError
from opsloop.storage.sql._dialect import upsert
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.schema_logs import log_miner_state, log_templates

__all__ = ["SqlTemplateStore"]

_UPDATE = ["service", "template", "version", "count", "last_seen", "merged_into", "data_json", "search_text"]


def _text(value: str) -> str:
    """``value`` for a text column: PostgreSQL refuses NUL, so it is U+FFFD there on both backends (a template
    keeps its NULs in ``data_json``, where JSON escapes them)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _row(template: Template) -> dict[str, Any]:
    data = template.to_dict()
    text = _text(data["template"])
    return {"id": template.id, "service": _text(template.service), "template": text, "version": data["version"],
            "count": template.count, "last_seen": template.last_seen, "merged_into": template.merged_into,
            "data_json": json.dumps(data), "search_text": text.lower()}


class SqlTemplateStore:
    """``TemplateStore`` over the ``log_templates`` table, plus the miner snapshot for restarts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, template: Template) -> None:
        self.save_many([template])

    def save_many(self, templates: list[Template]) -> None:
        if templates:
            with self.db.write() as conn:
                upsert(conn, log_templates, [_row(t) for t in templates], ["id"], _UPDATE)

    def get(self, template_id: int) -> Template:
        with self.db.read() as conn:
            row = conn.execute(select(log_templates.c.data_json).where(log_templates.c.id == template_id)).first()
        if row is None:
            raise NotFoundError(f"log template {template_id} does not exist", field="template_id")
        return Template.from_dict(json.loads(row[0]))

    def list(self, service: str | None = None) -> list[Template]:
        query = select(log_templates.c.data_json).order_by(log_templates.c.id)
        if service is not None:
            query = query.where(log_templates.c.service == _text(service))
        with self.db.read() as conn:
            return [Template.from_dict(json.loads(r[0])) for r in conn.execute(query)]

    def search(self, service: str | None = None, q: str | None = None, limit: int = 200,
               offset: int = 0) -> tuple[builtins.list[Template], int]:
        """Live templates, most frequent first (then by id), of ``service`` and whose text holds ``q`` (any
        case), at most ``limit`` of them after the first ``offset``, and how many there are in all. Only the
        returned rows are decoded."""
        c = log_templates.c
        where: builtins.list[ColumnElement[bool]] = [c.merged_into.is_(None)]
        if service is not None:
            where.append(c.service == _text(service))
        if q:
            where.append(c.search_text.contains(_text(q).lower(), autoescape=True))
        page = select(c.data_json).where(*where).order_by(c.count.desc(), c.id).limit(limit).offset(offset)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(log_templates).where(*where)).scalar_one()
            return [Template.from_dict(json.loads(r[0])) for r in conn.execute(page)], total

    def services(self) -> builtins.list[str]:
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(select(log_templates.c.service).distinct().order_by(
                log_templates.c.service))]

    def delete_service(self, service: str) -> int:
        with self.db.write() as conn:
            return conn.execute(log_templates.delete().where(log_templates.c.service == _text(service))).rowcount

    def service_summary(self) -> builtins.list[dict[str, Any]]:
        """Per service: how many live templates and lines."""
        c = log_templates.c
        query = (select(c.service, func.count(), func.sum(c.count), func.max(c.last_seen))
                 .where(c.merged_into.is_(None)).group_by(c.service).order_by(c.service))
        with self.db.read() as conn:
            return [{"service": r[0], "templates": r[1], "lines": int(r[2] or 0), "last_seen": r[3]}
                    for r in conn.execute(query)]

    def save_snapshot(self, snapshot: dict[str, Any], name: str = "default") -> None:
        with self.db.write() as conn:
            upsert(conn, log_miner_state, [{"name": name, "snapshot_json": json.dumps(snapshot),
                                            "saved_at": time.time()}], ["name"], ["snapshot_json", "saved_at"])

    def load_snapshot(self, name: str = "default") -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(log_miner_state.c.snapshot_json).where(log_miner_state.c.name == name)).first()
        return json.loads(row[0]) if row else None
