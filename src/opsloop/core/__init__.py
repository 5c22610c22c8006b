"""Pure domain objects shared by the MLOps and AIOps sides (no I/O here)."""

from opsloop.core.signals import Severity, Signal

__all__ = ["Severity", "Signal"]
