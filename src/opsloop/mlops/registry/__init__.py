"""The model registry: registered models, versions, aliases, audited promotions and model resolvers.

The store lives in ``opsloop.storage.sql.registry.SqlRegistryStore`` (``Runtime.registry``); this
package holds the registry's entities, rules and the resolvers that turn model URIs into folders.
"""

from opsloop.mlops.registry.entities import Lineage, ModelVersion, Promotion, RegisteredModel, Validation
from opsloop.mlops.registry.identifiers import check_alias, check_model_name, check_tag, parse_version
from opsloop.mlops.registry.promotion import (
    ACTOR_HEADER,
    REASON_HEADER,
    REASON_TAG,
    REQUIRE_VALIDATION_TAG,
    check_validation,
    validation_required,
)
from opsloop.mlops.registry.resolver import HttpModelResolver, LocalModelResolver, default_cache_dir
from opsloop.mlops.registry.stages import ALL_STAGES, canonical_stage
from opsloop.mlops.registry.uris import ModelUri, parse_model_uri
from opsloop.mlops.registry.validation_registry import HttpValidationRegistry, LocalValidationRegistry

__all__ = [
    "ACTOR_HEADER",
    "ALL_STAGES",
    "REASON_HEADER",
    "REASON_TAG",
    "REQUIRE_VALIDATION_TAG",
    "HttpModelResolver",
    "HttpValidationRegistry",
    "Lineage",
    "LocalModelResolver",
    "LocalValidationRegistry",
    "ModelUri",
    "ModelVersion",
    "Promotion",
    "RegisteredModel",
    "Validation",
    "canonical_stage",
    "check_alias",
    "check_model_name",
    "check_tag",
    "check_validation",
    "default_cache_dir",
    "parse_model_uri",
    "parse_version",
    "validation_required",
]
