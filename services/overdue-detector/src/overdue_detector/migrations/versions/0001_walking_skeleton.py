"""Runtime tables and the walking skeleton's ledger."""

import sqlalchemy as sa
from alembic import op

from collections_core.storage import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("delinquent_since", sa.Date, nullable=True),
    )
    op.create_table(
        "statement_cycles",
        sa.Column("statement_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("minimum_due_minor", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("value_date", sa.Date, nullable=False),
        sa.Column("reversed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "business_days",
        sa.Column("business_date", sa.Date, primary_key=True),
        sa.Column("delinquent_accounts", sa.Integer, nullable=False),
    )
