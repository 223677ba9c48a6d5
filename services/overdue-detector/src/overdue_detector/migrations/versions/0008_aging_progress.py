"""A business day is aged page by page, each page committed with its cursor
(business_days.py, decision 0043)."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "aging_progress",
        sa.Column("business_day", sa.Integer, primary_key=True),
        sa.Column("aged_through", sa.String(64), nullable=False),
        sa.Column("accounts_delinquent", sa.Integer, nullable=False),
        sa.Column("events_emitted", sa.Text, nullable=False),
    )
