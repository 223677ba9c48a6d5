"""Closed business days waiting for the postings that preceded their close."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "closed_days",
        sa.Column("business_day", sa.Integer, primary_key=True),
        sa.Column("log_ends", sa.Text, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    )
