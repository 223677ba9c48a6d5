"""The delinquency engine's ledger replaces the walking skeleton's tables.

The skeleton never ran in production, so its tables are dropped rather than
migrated; dates become day numbers (see tables.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ORDERED_ID = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def upgrade() -> None:
    for table in ("business_days", "payments", "statement_cycles", "accounts"):
        op.drop_table(table)
    op.create_table(
        "ledger_accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opened_day", sa.Integer, nullable=True),
    )
    op.create_table(
        "ledger_status_changes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("effective_day", sa.Integer, nullable=False),
    )
    op.create_table(
        "ledger_statement_cycles",
        sa.Column("statement_id", _ORDERED_ID, primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("cycle_day", sa.Integer, nullable=False),
        sa.Column("due_day", sa.Integer, nullable=False),
        sa.Column("minimum_due_minor", sa.BigInteger, nullable=False),
        sa.Column("statement_balance_minor", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_payments",
        sa.Column("payment_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("posted_day", sa.Integer, nullable=False),
        sa.Column("value_day", sa.Integer, nullable=False),
        sa.Column("reversed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "delinquency_state",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("as_of_day", sa.Integer, nullable=False),
        sa.Column("dpd", sa.Integer, nullable=False),
        sa.Column("bucket", sa.String(4), nullable=False),
        sa.Column("past_due_minor", sa.BigInteger, nullable=False),
        sa.Column("cycles_past_due", sa.Integer, nullable=False),
        sa.Column("oldest_due_day", sa.Integer, nullable=True),
        sa.Column("balance_minor", sa.BigInteger, nullable=False),
        sa.Column("charged_off", sa.Boolean, nullable=False),
        sa.Column("episode_open", sa.Boolean, nullable=False),
    )
    op.create_table(
        "aged_days",
        sa.Column("business_day", sa.Integer, primary_key=True),
        sa.Column("aged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accounts_delinquent", sa.Integer, nullable=False),
        sa.Column("events_emitted", sa.Integer, nullable=False),
    )
