"""Agents' certification records: the router leases tasks only to agents whose training is current."""

import sqlalchemy as sa
from alembic import op

revision = "0003_certifications"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "agent_certifications",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("course", sa.String(length=64), nullable=False),
        sa.Column("passed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "course"),
    )

