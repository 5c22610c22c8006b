"""SQL metadata storage: one schema, kept in lockstep on SQLite and PostgreSQL by Alembic migrations."""

from opsloop.storage.sql.engine import Database, open_database

__all__ = ["Database", "open_database"]
