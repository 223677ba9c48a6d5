"""Postings held until their account opens (held.py)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "held_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("ce_type", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("applies_on_day", sa.Integer, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    )
