"""The SQL model registry: registered models, versions, tags, aliases, audited promotions, validations.

MLflow's semantics (names, version numbering, redacted deletes, search grammar) on SQLite and
PostgreSQL. Every alias change (``promote``, ``delete_registered_model_alias``, and the deletions that
drop aliases) leaves a ``model_promotions`` row through ``_audit``.

``SqlRegistryStore`` is composed of one part per idea, in ``storage.sql._registry``: registered
models, model versions, search, aliases and promotions, validations and lineage, model URIs.
"""

from __future__ import annotations

from opsloop.storage.sql._registry.aliases import Aliases
from opsloop.storage.sql._registry.model_uris import ModelUris
from opsloop.storage.sql._registry.model_versions import REDACTED as REDACTED
from opsloop.storage.sql._registry.model_versions import ModelVersions
from opsloop.storage.sql._registry.registered_models import RegisteredModels
from opsloop.storage.sql._registry.search import DEFAULT_RESULTS_MODELS as DEFAULT_RESULTS_MODELS
from opsloop.storage.sql._registry.search import DEFAULT_RESULTS_VERSIONS as DEFAULT_RESULTS_VERSIONS
from opsloop.storage.sql._registry.search import IS_PROMPT_TAG as IS_PROMPT_TAG
from opsloop.storage.sql._registry.search import MAX_RESULTS_MODELS as MAX_RESULTS_MODELS
from opsloop.storage.sql._registry.search import MAX_RESULTS_VERSIONS as MAX_RESULTS_VERSIONS
from opsloop.storage.sql._registry.search import MODEL_ATTRIBUTES as MODEL_ATTRIBUTES
from opsloop.storage.sql._registry.search import MODEL_ORDER as MODEL_ORDER
from opsloop.storage.sql._registry.search import VERSION_ATTRIBUTES as VERSION_ATTRIBUTES
from opsloop.storage.sql._registry.search import VERSION_ORDER as VERSION_ORDER
from opsloop.storage.sql._registry.search import RegistrySearch
from opsloop.storage.sql._registry.validations import Validations
from opsloop.storage.sql.engine import Database
from opsloop.storage.sql.tracking import SqlTrackingStore

__all__ = ["SqlRegistryStore"]


class SqlRegistryStore(RegisteredModels, ModelVersions, RegistrySearch, Aliases, Validations, ModelUris):
    """MLflow-semantics model registry on SQLite or PostgreSQL, with audited promotions.

    Args:
        db: the opened database (the tracking store's).
        tracking: the tracking store, for runs and logged models that versions come from.
    """

    def __init__(self, db: Database, tracking: SqlTrackingStore) -> None:
        self.db = db
        self.tracking = tracking
