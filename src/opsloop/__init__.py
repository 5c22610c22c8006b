"""opsloop: one loop for MLOps and AIOps."""
__version__ = "0.1.0"
