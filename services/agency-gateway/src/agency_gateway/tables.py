"""The agency-gateway's own store (SQLAlchemy Core: see docs/decisions/0070).

Customers' PII columns hold AES-GCM ciphertexts (``cipher.Keyring``); partners'
client secrets are stored only as salted scrypt hashes and their webhook secrets
encrypted like PII, since the gateway must sign with them.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
# SQLite only auto-increments an INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")

partners = Table(
    "partners", metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("regions", Text, nullable=False),  # comma-separated; "*" covers every region
    Column("capacity", Integer, nullable=False),
    Column("commission_bps", Integer, nullable=False),
    Column("contract_id", String(64), nullable=False),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", Text, nullable=True),  # sealed
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret_hash", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("rate_limit_per_second", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

placements = Table(
    "placements", metadata,
    Column("placement_id", String(64), primary_key=True),
    Column("case_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("region", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("partner_id", String(64), nullable=True),
    Column("arm", String(12), nullable=True),
    Column("rule", Text, nullable=False),
    Column("commission_bps", Integer, nullable=True),
    Column("status", String(12), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("expires_on", Date, nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_reason", Text, nullable=True),
    Index("ix_placements_partner_status", "partner_id", "status", "placement_id"),
    Index("ix_placements_account", "account_id", "status"),
)

customers = Table(
    "customers", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),  # sealed
    Column("phone", Text, nullable=False),  # sealed
    Column("address", Text, nullable=False),  # sealed JSON
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

activities = Table(
    "activities", metadata,
    Column("activity_id", String(64), primary_key=True),
    Column("placement_id", String(64), nullable=False, index=True),
    Column("partner_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("promised_amount_minor", BigInteger, nullable=True),
    Column("promised_currency", String(3), nullable=True),
    Column("promised_on", Date, nullable=True),
    Column("note", Text, nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("permit_id", String(64), nullable=True),  # the call permit a call-attempt or contact went by
    Index("uq_activities_permit", "permit_id", unique=True),
)

payment_attributions = Table(
    "payment_attributions", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("payment_id", String(64), nullable=False),
    Column("entry", String(10), nullable=False),  # payment | reversal
    Column("placement_id", String(64), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("commission_bps", Integer, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("payment_id", "entry", name="uq_attribution_payment_entry"),
    Index("ix_attributions_partner_booked", "partner_id", "booked_on"),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("partner_id", String(64), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_webhook_due", "status", "next_attempt_at"),
    Index("ix_webhook_partner", "partner_id", "created_at"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
)

pii_access_audit = Table(
    "pii_access_audit", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("accessed_at", DateTime(timezone=True), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("placement_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("fields", Text, nullable=False),
    Column("route", Text, nullable=False),
    Index("ix_audit_partner_time", "partner_id", "accessed_at"),
    Index("ix_audit_placement", "placement_id"),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("owner", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

signing_keys = Table(
    "signing_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_key", Text, nullable=False),  # sealed PEM
    Column("public_jwk", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

call_permits = Table(
    "call_permits", metadata,
    Column("permit_id", String(64), primary_key=True),
    Column("placement_id", String(64), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("decision", String(10), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("customer_id", String(64), nullable=True),  # null only for permits issued before 0003
    Column("rule", Text, nullable=True),
)

# One row per partner: the wall-clock second being counted and the requests taken in
# it by every replica together (rate_limit.py).
rate_windows = Table(
    "rate_windows", metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("window_start", BigInteger, nullable=False),  # a wall-clock second (epoch)
    Column("used", BigInteger, nullable=False),
)
