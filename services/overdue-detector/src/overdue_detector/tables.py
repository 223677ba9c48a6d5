"""The overdue-detector's own tables.

Ledger dates are stored as day numbers (``date.toordinal()``): aging is date
arithmetic (due date + grace, DPD), and integer arithmetic is the one form of it
that SQLite and PostgreSQL evaluate identically in set-based SQL.
"""

from datetime import date

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
_ID = BigInteger().with_variant(Integer(), "sqlite")

# Statement ids break ties in the payment waterfall; PostgreSQL must order them
# byte-wise like SQLite and Python do, whatever the database's locale.
_ORDERED_ID = String(64).with_variant(String(64, collation="C"), "postgresql")


def day_number(value: date) -> int:
    return value.toordinal()


def from_day_number(value: int) -> date:
    return date.fromordinal(value)


accounts = Table(
    "ledger_accounts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("opened_day", Integer, nullable=True),
)

# Every status change as received; the status on a day is the last change
# effective by then (same-day changes in arrival order, hence the id).
status_changes = Table(
    "ledger_status_changes", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("status", String(12), nullable=False),
    Column("effective_day", Integer, nullable=False),
)

cycles = Table(
    "ledger_statement_cycles", metadata,
    Column("statement_id", _ORDERED_ID, primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("cycle_day", Integer, nullable=False),
    Column("due_day", Integer, nullable=False, index=True),
    Column("minimum_due_minor", BigInteger, nullable=False),
    Column("statement_balance_minor", BigInteger, nullable=False),
)

payments = Table(
    "ledger_payments", metadata,
    Column("payment_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("posted_day", Integer, nullable=False),
    Column("value_day", Integer, nullable=False),
    Column("reversed", Boolean, nullable=False),
)

# Derived from cycles and payments; see positions.py.
positions = Table(
    "ledger_positions", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("unpaid_from_due_day", Integer, nullable=True, index=True),
    Column("latest_value_day", Integer, nullable=True, index=True),
)

# What was last reported for an account (as of as_of_day) and whether its
# delinquency episode is open. The flag is kept apart from the snapshot because
# a payment can end an episode between two closes (AccountCured at once) while
# the last aged day's snapshot still shows the account delinquent.
delinquency_state = Table(
    "delinquency_state", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("as_of_day", Integer, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(4), nullable=False),
    Column("past_due_minor", BigInteger, nullable=False),
    Column("cycles_past_due", Integer, nullable=False),
    Column("oldest_due_day", Integer, nullable=True),
    Column("balance_minor", BigInteger, nullable=False),
    Column("charged_off", Boolean, nullable=False),
    Column("episode_open", Boolean, nullable=False),
    # A payment valued that day ended the episode before the days up to it were aged.
    Column("cured_on_day", Integer, nullable=True),
)

# One row per business day aged: a replayed BusinessDayClosed finds its row and does nothing.
aged_days = Table(
    "aged_days", metadata,
    Column("business_day", Integer, primary_key=True),
    Column("aged_at", DateTime(timezone=True), nullable=False),
    Column("accounts_delinquent", Integer, nullable=False),
    Column("events_emitted", Integer, nullable=False),
)

# Business days closed but not aged yet: each waits until every posting that was on
# the log just after its close was recorded has been applied (log_ends:
# {"topic:partition": offset}, NULL until read from the broker).
closed_days = Table(
    "closed_days", metadata,
    Column("business_day", Integer, primary_key=True),
    Column("log_ends", Text, nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
)

# A business day being aged, page by page, each page its own transaction
# (business_days.py): the last account aged and what the pages so far found, so an
# aging cut short (a crash, a redeploy) resumes after that account.
aging_progress = Table(
    "aging_progress", metadata,
    Column("business_day", Integer, primary_key=True),
    Column("aged_through", String(64), nullable=False),
    Column("accounts_delinquent", Integer, nullable=False),
    Column("events_emitted", Text, nullable=False),  # JSON: events by type
)

# Postings whose account is not opened yet, as received (held.py).
held_postings = Table(
    "held_postings", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False),
    Column("ce_type", String(200), nullable=False),
    Column("account_id", String(64), nullable=False, index=True),
    Column("applies_on_day", Integer, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
)
