"""Where templates are kept: the ``TemplateStore`` protocol, an in-memory store and JSON snapshots.

A SQL-backed store implements the same five methods; the miner writes a template when it is
born, when it gets a new version, and on ``LogMiner.flush()`` (counts, buckets, examples).
``save`` is an upsert keyed by ``Template.id``.
"""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from opsloop.errors import InvalidInputError, NotFoundError, StorageError

if TYPE_CHECKING:
    from opsloop.aiops.logs.miner import LogMiner
    from opsloop.aiops.logs.templates import Template

__all__ = ["InMemoryTemplateStore", "TemplateStore", "load_snapshot", "save_snapshot"]


@runtime_checkable
class TemplateStore(Protocol):
    """Persistence for log templates (one row per template; versions and buckets as children)."""

    def save(self, template: Template) -> None:
        """Insert or replace the template with this id (its versions, counts and buckets)."""

    def get(self, template_id: int) -> Template:
        """The stored template; raises ``NotFoundError``."""

    def list(self, service: str | None = None) -> list[Template]:
        """Stored templates of a service (all when ``None``), ordered by id."""

    def services(self) -> builtins.list[str]:
        """Services with at least one stored template."""

    def delete_service(self, service: str) -> int:
        """Forget a service's templates; returns how many were removed."""


class InMemoryTemplateStore:
    """A ``TemplateStore`` in a dict of rows (``Template.to_dict``), as a database would hold them.

    Rows are copies: the miner's later count updates reach the store on ``flush()``.
    """

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, Any]] = {}

    def save(self, template: Template) -> None:
        self._rows[template.id] = template.to_dict()

    def get(self, template_id: int) -> Template:
        from opsloop.aiops.logs.templates import Template

        try:
            return Template.from_dict(self._rows[template_id])
        except KeyError:
            raise NotFoundError(f"log template {template_id} does not exist") from None

    def list(self, service: str | None = None) -> list[Template]:
        from opsloop.aiops.logs.templates import Template

        rows = [r for r in self._rows.values() if service is None or r["service"] == service]
        return [Template.from_dict(r) for r in sorted(rows, key=lambda r: r["id"])]

    def services(self) -> builtins.list[str]:
        return sorted({r["service"] for r in self._rows.values()})

    def delete_service(self, service: str) -> int:
        doomed = [tid for tid, r in self._rows.items() if r["service"] == service]
        for tid in doomed:
            del self._rows[tid]
        return len(doomed)


def save_snapshot(miner: LogMiner, path: str | os.PathLike[str]) -> None:
    """Write the miner's state to ``path`` as JSON, atomically (write then rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(miner.snapshot()), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot write log miner snapshot to {target}: {exc}") from exc


def load_snapshot(path: str | os.PathLike[str], **kwargs: Any) -> LogMiner:
    """A miner restored from a JSON snapshot; ``kwargs`` go to ``LogMiner.restore``."""
    from opsloop.aiops.logs.miner import LogMiner

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StorageError(f"cannot read log miner snapshot {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"log miner snapshot {path} is not JSON: {exc}", field="path") from exc
    return LogMiner.restore(data, **kwargs)
