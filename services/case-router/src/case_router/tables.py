"""The case-router's own tables (its database, nobody else's)."""

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint

metadata = MetaData()

cases = Table(
    "cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)

timeline = Table(
    "case_timeline", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("entry", String(40), nullable=False),
    Column("detail", String(200), nullable=False),
    UniqueConstraint("case_id", "entry", "detail", name="timeline_entry_once"),
)
