"""Per-account positions, so the daily aging reads only the accounts that can be
delinquent (positions.py), and a due-date index for the due-soon reminders."""

import sqlalchemy as sa
from alembic import op

from overdue_detector.positions import REFRESH_ALL

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "ledger_positions",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("unpaid_from_due_day", sa.Integer, nullable=True, index=True),
        sa.Column("latest_value_day", sa.Integer, nullable=True, index=True),
    )
    op.create_index("ix_ledger_statement_cycles_due_day", "ledger_statement_cycles", ["due_day"])
    op.execute(sa.text(REFRESH_ALL).bindparams(no=False))
