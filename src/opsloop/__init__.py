"""opsloop: one loop for MLOps and AIOps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Client", "Run", "__version__", "start_run"]

if TYPE_CHECKING:
    from opsloop.sdk import Client, Run, start_run

# The SDK is imported on first use, so ``import opsloop`` stays cheap.
_LAZY = {"Client": "opsloop.sdk", "Run": "opsloop.sdk", "start_run": "opsloop.sdk"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'opsloop' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
