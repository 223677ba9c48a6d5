"""Outbox rows the broker refuses are counted and set aside; indexes for pruning
published rows and old inbox ids; the leases table for work done by one replica.

Revision ID: r0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("outbox", sa.Column("set_aside_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("refusal", sa.String(500), nullable=True))
    op.create_index("outbox_published_at", "outbox", ["published_at"],
                    postgresql_where=sa.text("published_at IS NOT NULL"),
                    sqlite_where=sa.text("published_at IS NOT NULL"))
    op.create_index("inbox_received_at", "inbox", ["received_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("inbox_received_at", "inbox")
    op.drop_index("outbox_published_at", "outbox")
    for column in ("refusal", "set_aside_at", "attempts"):
        op.drop_column("outbox", column)
