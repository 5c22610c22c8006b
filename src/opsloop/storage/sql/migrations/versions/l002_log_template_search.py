"""log templates: the text searched by q, lowered as Python lowers it

Revision ID: l002
Revises: l001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "l002"
down_revision = "l001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("log_templates", sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    # the rows of older servers: their text lowered here (SQL's lower() folds ASCII only on SQLite)
    table = sa.table("log_templates", sa.column("id", sa.Integer()), sa.column("template", sa.Text()),
                     sa.column("search_text", sa.Text()))
    conn = op.get_bind()
    rows = conn.execute(sa.select(table.c.id, table.c.template)).all()
    for start in range(0, len(rows), 1000):
        conn.execute(table.update().where(table.c.id == sa.bindparam("key")).values(search_text=sa.bindparam("lowered")),
                     [{"key": i, "lowered": text.lower()} for i, text in rows[start:start + 1000]])


def downgrade() -> None:
    op.drop_column("log_templates", "search_text")
