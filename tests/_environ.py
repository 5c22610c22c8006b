"""Saving and restoring environment variables that a test's mlflow client writes."""

from __future__ import annotations

import os
from collections.abc import Iterable


def saved_environ(keys: Iterable[str]) -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in keys}


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put back what ``saved_environ`` saw: a key that was absent is removed."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
