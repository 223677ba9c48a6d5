"""The runtime's own tables, present in every service's database.

``inbox`` remembers every event id a service has handled (or dead-lettered), so a
redelivered event changes nothing. ``outbox`` holds the events a transaction
emitted until the relay has published them, and rows the broker refused for good
(set aside). ``leases`` names the work that one replica at a time does.

The first release's inbox and outbox come from a service's first migration
(``create_runtime_tables``); every later change is one of the runtime's own
migrations (``collections_core/runtime_migrations``), applied after the service's.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
_ID = BigInteger().with_variant(Integer(), "sqlite")


def _inbox(metadata: MetaData, *changes) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("event_id", String(200), primary_key=True),
        Column("ce_type", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("kafka_partition", Integer, nullable=False),
        Column("kafka_offset", BigInteger, nullable=False),
        Column("outcome", String(20), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
        *changes,
    )


def _outbox(metadata: MetaData, *changes) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("topic", String(200), nullable=False),
        Column("record_key", LargeBinary, nullable=True),
        Column("record_value", LargeBinary, nullable=True),
        Column("headers", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(
            "outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        *changes,
    )


inbox = _inbox(metadata, Index("inbox_received_at", "received_at"))

outbox = _outbox(
    metadata,
    # Broker refusals of this row (too large, unknown topic, not authorised).
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("set_aside_at", DateTime(timezone=True), nullable=True),
    Column("refusal", String(500), nullable=True),
    Index(
        "outbox_published_at",
        "published_at",
        postgresql_where=text("published_at IS NOT NULL"),
        sqlite_where=text("published_at IS NOT NULL"),
    ),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def create_runtime_tables(op) -> None:
    """For a service's first Alembic migration: the inbox and outbox exactly as the
    runtime first shipped them. Later changes are the runtime's own migrations."""
    first_release = MetaData()
    _inbox(first_release)
    _outbox(first_release)
    first_release.create_all(op.get_bind())
