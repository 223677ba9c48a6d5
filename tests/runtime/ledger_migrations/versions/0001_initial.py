"""Runtime tables and the effects table of the test ledger service."""

import sqlalchemy as sa
from alembic import op

from collections_core.storage import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "effects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("ce_type", sa.String(200), nullable=False),
        sa.Column("payment_id", sa.String(100), nullable=False),
    )
