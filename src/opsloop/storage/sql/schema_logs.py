"""Tables of the log template miner (on the shared metadata; migrations ``l001``, ``l002``)."""

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from opsloop.storage.sql.schema import metadata

__all__ = ["log_miner_state", "log_templates"]

# One row per template; ``data_json`` is ``Template.to_dict()`` (versions, buckets, examples, levels), read
# only for the rows a query returns; ``search_text`` is the template lowered (in Python, as ``q`` is).
log_templates = Table(
    "log_templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("service", String(256), nullable=False),
    Column("template", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("merged_into", Integer, nullable=True),
    Column("data_json", Text, nullable=False),
    Column("search_text", Text, nullable=False, server_default=""),  # migration l002
    Index("ix_log_templates_service", "service", "id"),
)

# The miner's own state (its matching index), so template ids stay stable across restarts.
log_miner_state = Table(
    "log_miner_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("snapshot_json", Text, nullable=False),
    Column("saved_at", Float, nullable=False),
)
