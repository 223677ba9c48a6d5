"""The notifier's own store (SQLAlchemy Core; decision 0060 says why not SQLModel).

- ``contact_points``: one row per customer; every PII column holds ciphertext
  (``notifier.crypto``), phone and e-mail also a keyed hash for lookups.
- ``channel_preferences``: per-channel opt-outs, from core banking's consents or
  from the customer (STOP reply, API); the customer's own opt-out wins.
- ``holds``: cease-contact, dispute, hardship, breathing space, attorney …, with an end or open.
- ``contact_requests``: every requested contact and where it stands; ``due_at`` is
  the next moment the dispatcher looks at it, so a deferral survives any restart.
- ``contact_ledger``: every evaluation with its decision and rule, and every
  attempt by any channel, by the bank or an agency (``outcome`` set).
- ``call_permits``: the answer to each permit request, kept for idempotency.
- ``pii_reveals``: every time a member of staff saw a customer's contact details in
  clear: who, which customer, which fields, why and when (written with the reveal).
"""

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()
_ID = BigInteger().with_variant(Integer(), "sqlite")

contact_points = Table(
    "contact_points", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("phone_hash", String(64), nullable=True, index=True),
    Column("email_hash", String(64), nullable=True, index=True),
    Column("time_zone", String(64), nullable=False),
    Column("language", String(16), nullable=False),
    Column("country", String(2), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

channel_preferences = Table(
    "channel_preferences", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("channel", String(10), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("source", String(20), nullable=False),  # corebanking | customer | agent
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

holds = Table(
    "holds", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("hold", String(20), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

contact_requests = Table(
    "contact_requests", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("template", String(64), nullable=False),
    Column("parameters", Text, nullable=False),
    Column("pack", String(8), nullable=False),
    Column("status", String(12), nullable=False),  # pending | sending | sent | delivered | failed | blocked | cancelled
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rule", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("provider_message_id", String(128), nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("contact_requests_due", "due_at", postgresql_where=text("status IN ('pending', 'sending')"),
          sqlite_where=text("status IN ('pending', 'sending')")),
    Index("contact_requests_provider", "provider_message_id"),
)

contact_ledger = Table(
    "contact_ledger", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("permit_id", String(64), nullable=True),
    Column("channel", String(10), nullable=False),
    Column("actor", String(80), nullable=False),  # bank | bank-agent:<id> | agency:<id>
    Column("recipient", String(12), nullable=False),
    Column("decision", String(8), nullable=False),  # allow | defer | block
    Column("rule", String(40), nullable=True),
    Column("outcome", String(16), nullable=True),  # set for attempts: sent | pending | no-answer | …
    Column("at", DateTime(timezone=True), nullable=False),
    Index("contact_ledger_customer", "customer_id", "at"),
)

call_permits = Table(
    "call_permits", metadata,
    Column("permit_id", String(64), primary_key=True),
    Column("permit_request_id", String(128), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("caller", Text, nullable=False),
    Column("decision", String(8), nullable=False),
    Column("rule", String(40), nullable=True),
    Column("retry_after", DateTime(timezone=True), nullable=True),
    Column("customer_local_time", String(40), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("ledger_id", BigInteger, nullable=True),
)

pii_reveals = Table(
    "pii_reveals", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("actor", String(80), nullable=False),  # the token's subject
    Column("roles", String(120), nullable=False),  # comma-separated, as held at the reveal
    Column("fields", String(40), nullable=False),  # comma-separated: name, phone, email, address
    Column("reason", Text, nullable=False),
    Column("revealed_at", DateTime(timezone=True), nullable=False),
    Index("pii_reveals_customer", "customer_id", "id"),
    Index("pii_reveals_actor", "actor", "id"),
)
