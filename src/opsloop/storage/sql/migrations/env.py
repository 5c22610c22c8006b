"""Alembic environment: migrations run on the connection opsloop passes in (see engine.upgrade_schema)."""

from alembic import context

import opsloop.storage.sql.schema_aiops  # noqa: F401 - registers the AIOps tables on ``metadata`` (autogenerate)
from opsloop.storage.sql.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic revision --autogenerate` from a developer shell
    from sqlalchemy import create_engine

    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("Set sqlalchemy.url in alembic.ini to run migrations from a shell")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
