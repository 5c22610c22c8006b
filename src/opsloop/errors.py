"""opsloop's one exception tree.

Every error opsloop raises on purpose is an ``OpsloopError``. The HTTP layer alone
maps them to status codes (``server/errors.py``); nothing here knows about HTTP.

    OpsloopError
    ├── NotFoundError            (also LookupError)   a named thing does not exist
    ├── AlreadyExistsError                            a unique name or key is taken
    ├── InvalidInputError        (also ValueError)    caller-supplied data is wrong; ``.field`` names it
    │   └── LimitExceededError                        a value is past a documented size limit
    ├── InvalidStateError                             the operation is not allowed in the current state
    ├── ValidationFailedError                         a model failed a validation gate
    ├── RateLimitedError                              a sender is over its allowance
    ├── StorageError                                  the backing store failed (not the caller's fault)
    └── MissingDependencyError   (also ImportError)   an optional extra is not installed
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "InvalidInputError",
    "InvalidStateError",
    "LimitExceededError",
    "MissingDependencyError",
    "NotFoundError",
    "OpsloopError",
    "RateLimitedError",
    "StorageError",
    "ValidationFailedError",
]


class OpsloopError(Exception):
    """Base of every error opsloop raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(OpsloopError, LookupError):
    """A named thing (experiment, run, model, incident…) does not exist."""


class AlreadyExistsError(OpsloopError):
    """A unique name or key is already taken."""


class InvalidInputError(OpsloopError, ValueError):
    """Caller-supplied data is malformed or out of range; ``field`` names the culprit."""


class LimitExceededError(InvalidInputError):
    """A value is larger than a documented limit (length, count, size)."""


class InvalidStateError(OpsloopError):
    """The operation is not allowed in the entity's current state."""


class ValidationFailedError(OpsloopError):
    """A model candidate did not pass its validation gates."""


class RateLimitedError(OpsloopError):
    """A sender exceeded its allowance; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class StorageError(OpsloopError):
    """The backing store failed in a way that is not the caller's fault."""


class MissingDependencyError(OpsloopError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    @classmethod
    def for_extra(cls, module: str, extra: str) -> MissingDependencyError:
        return cls(f"{module} is not installed; install it with: pip install 'opsloop[{extra}]'")
