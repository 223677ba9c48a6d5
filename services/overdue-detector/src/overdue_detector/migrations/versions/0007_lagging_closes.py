"""A close's log ends are read after it is recorded (NULL until then), and a state row
remembers the value date of a payment that cured its episode before the days up to it
were aged (business_days.py)."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("closed_days") as table:
        table.alter_column("log_ends", existing_type=sa.Text, nullable=True)
    with op.batch_alter_table("delinquency_state") as table:
        table.add_column(sa.Column("cured_on_day", sa.Integer, nullable=True))
