"""Rate-limit windows shared by every replica; call permits keep what an activity is
checked against (the customer and the rule), and an activity names the permit it used."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger, nullable=False),  # a wall-clock second (epoch)
        sa.Column("used", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("call_permits") as table:
        table.add_column(sa.Column("customer_id", sa.String(64), nullable=True))
        table.add_column(sa.Column("rule", sa.Text, nullable=True))
    with op.batch_alter_table("activities") as table:
        table.add_column(sa.Column("permit_id", sa.String(64), nullable=True))
    op.create_index("uq_activities_permit", "activities", ["permit_id"], unique=True)

