"""The notifier's own tables."""

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

metadata = MetaData()

contact_points = Table(
    "contact_points", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("phone", String(32), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("language", String(16), nullable=False),
)

deliveries = Table(
    "deliveries", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("template", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("provider_message_id", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
