"""The audit of staff reveals of a customer's contact details in clear."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pii_reveals",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("roles", sa.String(120), nullable=False),
        sa.Column("fields", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("pii_reveals_customer", "pii_reveals", ["customer_id", "id"])
    op.create_index("pii_reveals_actor", "pii_reveals", ["actor", "id"])

