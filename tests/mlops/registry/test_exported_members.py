"""The registry package's public names are a deliberate list."""

import opsloop.mlops.registry as registry


def test_public_names_are_pinned() -> None:
    assert sorted(registry.__all__) == sorted([
        "ACTOR_HEADER", "ALL_STAGES", "REASON_HEADER", "REASON_TAG", "REQUIRE_VALIDATION_TAG", "HttpModelResolver",
        "HttpValidationRegistry", "LocalValidationRegistry",
        "Lineage", "LocalModelResolver", "ModelUri", "ModelVersion", "Promotion", "RegisteredModel", "Validation",
        "canonical_stage", "check_alias", "check_model_name", "check_tag", "check_validation", "default_cache_dir",
        "parse_model_uri", "parse_version", "validation_required",
    ])
    for name in registry.__all__:
        assert getattr(registry, name) is not None
