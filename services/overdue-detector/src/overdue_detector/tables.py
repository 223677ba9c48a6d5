"""The overdue-detector's own tables."""

from sqlalchemy import BigInteger, Boolean, Column, Date, Integer, MetaData, String, Table

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False),
    Column("delinquent_since", Date, nullable=True),
)

cycles = Table(
    "statement_cycles", metadata,
    Column("statement_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("due_date", Date, nullable=False),
    Column("minimum_due_minor", BigInteger, nullable=False),
)

payments = Table(
    "payments", metadata,
    Column("payment_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("value_date", Date, nullable=False),
    Column("reversed", Boolean, nullable=False),
)

business_days = Table(
    "business_days", metadata,
    Column("business_date", Date, primary_key=True),
    Column("delinquent_accounts", Integer, nullable=False),
)
