"""Replace the walking skeleton's clear-text contact points and SMS queue with
encrypted contact points, preferences, holds, contact requests, the contact
ledger and call permits."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.drop_index("deliveries_pending", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("contact_points")
    op.create_table(
        "contact_points",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=True, index=True),
        sa.Column("email_hash", sa.String(64), nullable=True, index=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "channel_preferences",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(10), primary_key=True),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "holds",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("hold", sa.String(20), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "contact_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("pack", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("provider_message_id", sa.String(128), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("contact_requests_due", "contact_requests", ["due_at"],
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index("contact_requests_provider", "contact_requests", ["provider_message_id"])
    op.create_table(
        "contact_ledger",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("permit_id", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("recipient", sa.String(12), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("contact_ledger_customer", "contact_ledger", ["customer_id", "at"])
    op.create_table(
        "call_permits",
        sa.Column("permit_id", sa.String(64), primary_key=True),
        sa.Column("permit_request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("caller", sa.Text, nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(40), nullable=True),
        sa.Column("retry_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_local_time", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("ledger_id", sa.BigInteger, nullable=True),
    )
