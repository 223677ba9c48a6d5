"""The agency-gateway's own tables."""

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table

metadata = MetaData()

placements = Table(
    "placements", metadata,
    Column("placement_id", String(64), primary_key=True),
    Column("case_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
)
