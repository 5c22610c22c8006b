"""MLOps: tracking, registry, serving, monitoring, validation. Never imports opsloop.aiops."""
