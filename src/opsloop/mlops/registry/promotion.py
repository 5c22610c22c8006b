"""The rules an alias move (a promotion) must pass, kept apart from storage so they read as one list.

A promotion moves ``@alias`` of a registered model to a version. Every move is audited (who, when,
why, which validation allowed it). A move needs a passed validation when the caller asks for it
(``require_validation=True``) or when the model's policy tag names the alias:

- ``opsloop.promotion.require_validation`` on the registered model: ``*`` (every alias) or a
  comma-separated list of aliases (``champion,prod``). The policy applies to moves made through
  MLflow's plain ``set_registered_model_alias`` too.

The validation that counts is the newest one recorded for the version. It must have passed, and
if it compared against a champion version, the alias must still point there (or at the candidate
itself, or nowhere): a candidate validated against v2 may not replace v3. A report of the gate that
compared with no champion (its ``champion`` is null: the alias pointed nowhere) allows only a first
holder: of two candidates validated before either was promoted, the second may not replace the first.
"""

from __future__ import annotations

from collections.abc import Mapping

from opsloop.errors import InvalidStateError, ValidationFailedError
from opsloop.mlops.registry.entities import Validation

__all__ = [
    "ACTOR_HEADER",
    "ANONYMOUS",
    "REASON_HEADER",
    "REASON_TAG",
    "REQUIRE_VALIDATION_TAG",
    "check_validation",
    "validation_required",
]

REQUIRE_VALIDATION_TAG = "opsloop.promotion.require_validation"
# A one-shot reason for the next alias move made through MLflow's API (which has no reason field):
# set it as a registered-model tag, move the alias; the move records it and removes the tag.
REASON_TAG = "opsloop.promotion.reason"
ACTOR_HEADER = "X-Opsloop-Actor"
REASON_HEADER = "X-Opsloop-Reason"
ANONYMOUS = "anonymous"


def validation_required(alias: str, model_tags: Mapping[str, str], requested: bool = False) -> bool:
    """Whether moving ``alias`` needs a passed validation: asked for, or named by the model's policy tag."""
    if requested:
        return True
    policy = model_tags.get(REQUIRE_VALIDATION_TAG, "")
    names = {p.strip() for p in policy.split(",") if p.strip()}
    return "*" in names or alias in names


def check_validation(name: str, alias: str, version: int, latest: Validation | None,
                     alias_version: int | None) -> Validation:
    """The validation that allows moving ``alias`` to ``version``, or the reason there is none.

    Raises:
        InvalidStateError: no validation is recorded, or it compared against a champion the
            alias no longer points to.
        ValidationFailedError: the newest validation of the version failed.
    """
    if latest is None:
        raise InvalidStateError(
            f"Moving {name}@{alias} to version {version} requires a passed validation; none is recorded. "
            f"Run: opsloop models validate {name} --candidate {version} --data FILE", field="version")
    if not latest.passed:
        raise ValidationFailedError(
            f"Version {version} of {name} failed its latest validation (#{latest.id}); it cannot become @{alias}.",
            field="version")
    if alias_version is None or alias_version in (latest.champion_version, version):
        return latest
    if latest.champion_version is not None:
        compared = f"version {latest.champion_version}"
    elif _without_champion(latest):
        compared = "no champion"
    else:
        return latest  # a report that does not say what it compared with (posted by hand): not known stale
    raise InvalidStateError(
        f"Validation #{latest.id} compared version {version} with {compared}, but "
        f"{name}@{alias} now points to version {alias_version}; validate again.", field="version")


def _without_champion(validation: Validation) -> bool:
    """Whether the gate found no champion: its report names ``champion`` and it is null."""
    report = validation.report
    return isinstance(report, Mapping) and "champion" in report and report["champion"] is None
