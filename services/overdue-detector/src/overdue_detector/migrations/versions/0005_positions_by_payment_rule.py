"""Positions recomputed with the card payment rule (decision 0040): a payment pays only
the minimums of statements issued by its value date, so more accounts can be delinquent."""

import sqlalchemy as sa
from alembic import op

from overdue_detector.positions import REFRESH_ALL

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute(sa.text(REFRESH_ALL).bindparams(no=False))
