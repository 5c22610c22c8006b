"""Aliases and audited promotions: every alias move leaves a ``model_promotions`` row.

A move does not touch the model's ``last_updated_timestamp``, as in MLflow's server: the audit row records it.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from opsloop.errors import NotFoundError
from opsloop.mlops.registry import promotion as rules
from opsloop.mlops.registry.entities import ModelVersion, Promotion
from opsloop.mlops.registry.identifiers import LATEST_ALIAS, check_alias, check_model_name
from opsloop.mlops.tracking import limits
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import inserted_id, upsert
from opsloop.storage.sql._registry.base import _MV, RegistryStoreBase, _now_ms


class Aliases(RegistryStoreBase):
    """Aliases of registered models, moved by audited promotions."""

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``@alias`` points to; ``latest`` is the highest live version."""
        check_alias(alias)
        with self.db.read() as conn:
            self._model_row(conn, name)
            if alias.lower() == LATEST_ALIAS:
                number = conn.execute(select(func.max(_MV.version)).where(_MV.name == name, ~_MV.deleted)).scalar()
            else:
                al = t.registered_model_aliases.c
                number = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            if number is None:
                raise NotFoundError(f"Registered model alias {alias} not found for model {name}.", field="alias")
            return self._load_versions(conn, [(name, number)])[0]

    def set_registered_model_alias(self, name: str, alias: str, version: object, actor: str = "",
                                   reason: str = "") -> Promotion:
        """MLflow's alias set: a promotion that needs a validation only when the model's policy says so."""
        return self.promote(name, alias, version, actor=actor, reason=reason, require_validation=False)

    def delete_registered_model_alias(self, name: str, alias: str, actor: str = "",
                                      reason: str = "") -> Promotion | None:
        """Remove ``@alias`` (audited); removing an alias that is not set does nothing, as in MLflow."""
        check_alias(alias)
        with self.db.write() as conn:
            self._model_row(conn, name, lock=True)
            al = t.registered_model_aliases.c
            current = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            if current is None:
                return None
            reason = reason or self._take_reason(conn, name)
            conn.execute(t.registered_model_aliases.delete().where(al.name == name, al.alias == alias))
            return self._audit(conn, name, alias, current, None, actor, reason)

    def promote(self, name: str, alias: str, version: object, actor: str = "", reason: str = "",
                require_validation: bool = False) -> Promotion:
        """Point ``@alias`` at ``version`` under the promotion rules (``mlops.registry.promotion``).

        Raises:
            NotFoundError: the model or the version does not exist.
            InvalidStateError: a validation is required and none (or a stale one) is recorded.
            ValidationFailedError: a validation is required and the newest one failed.
        """
        check_alias(alias, for_write=True)
        with self.db.write() as conn:
            self._model_row(conn, name, lock=True)
            row = self._version_row(conn, name, version)
            tags = dict(conn.execute(select(t.registered_model_tags.c.key, t.registered_model_tags.c.value)
                                     .where(t.registered_model_tags.c.name == name)).all())
            al = t.registered_model_aliases.c
            current = conn.execute(select(al.version).where(al.name == name, al.alias == alias)).scalar()
            validation_id = None
            if rules.validation_required(alias, tags, require_validation):
                latest = self._latest_validation(conn, name, row.version)
                validation_id = rules.check_validation(name, alias, row.version, latest, current).id
            reason = reason or self._take_reason(conn, name)
            upsert(conn, t.registered_model_aliases, [{"name": name, "alias": alias, "version": row.version}],
                   ["name", "alias"], ["version"])
            return self._audit(conn, name, alias, current, row.version, actor, reason, validation_id)

    @staticmethod
    def _take_reason(conn: Connection, name: str) -> str:
        """The one-shot reason tag (``promotion.REASON_TAG``), removed once a move has used it."""
        tags = t.registered_model_tags.c
        reason = conn.execute(select(tags.value).where(tags.name == name, tags.key == rules.REASON_TAG)).scalar()
        if reason is None:
            return ""
        conn.execute(t.registered_model_tags.delete().where(tags.name == name, tags.key == rules.REASON_TAG))
        return reason

    @staticmethod
    def _audit(conn: Connection, name: str, alias: str, from_version: int | None, to_version: int | None,
               actor: str, reason: str, validation_id: int | None = None) -> Promotion:
        limits.check_length(actor, limits.MAX_USER_ID_LENGTH, "actor")  # raised here, the move is rolled back
        actor, reason, now = actor or rules.ANONYMOUS, reason or "", _now_ms()
        new_id = inserted_id(conn.execute(t.model_promotions.insert().values(
            name=name, alias=alias, from_version=from_version, to_version=to_version, actor=actor, reason=reason,
            validation_id=validation_id, time=now)))
        return Promotion(new_id, name, alias, from_version, to_version, actor, reason, validation_id, now)

    def promotion_history(self, name: str, alias: str | None = None) -> list[Promotion]:
        """Every audited alias move of ``name`` (also of a deleted model), oldest first."""
        check_model_name(name)
        p = t.model_promotions.c
        query = select(t.model_promotions).where(p.name == name).order_by(p.time, p.id)
        if alias is not None:
            query = query.where(p.alias == check_alias(alias))
        with self.db.read() as conn:
            return [Promotion(r.id, r.name, r.alias, r.from_version, r.to_version, r.actor, r.reason,
                              r.validation_id, r.time) for r in conn.execute(query)]
