"""The case-router's own store (its database, nobody else's).

Entities are SQLModel classes: one declaration gives the table, the typed row and
the API's read model. Reads and writes go through SQLAlchemy Core on their
``__table__`` inside the runtime's unit of work (one AsyncConnection, no ORM
session), see docs/decisions/0050-router-entities-in-sqlmodel-writes-in-core.md.
Money is BigInteger minor units; business days are dates, instants are aware.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, DateTime, Text
from sqlmodel import Field, SQLModel

_ID = 64


def _instant(nullable: bool = False):
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable)


def _money():
    return Field(default=0, sa_type=BigInteger, nullable=False)


class Case(SQLModel, table=True):
    """One delinquency episode of one account; at most one open per account (partial unique index)."""

    __tablename__ = "cases"
    case_id: str = Field(primary_key=True, max_length=_ID)
    account_id: str = Field(max_length=_ID, index=True)
    customer_id: str = Field(max_length=_ID, index=True)
    status: str = Field(max_length=10)  # open | closed
    stage: str = Field(max_length=12)
    strategy_id: str = Field(max_length=_ID)
    strategy_version: int
    variant: str = Field(max_length=_ID)
    segment: str = Field(default="retail", max_length=_ID)
    currency: str = Field(max_length=3)
    dpd: int
    bucket: str = Field(max_length=4)
    past_due_minor: int = _money()
    balance_minor: int = _money()
    opened_on: date
    opened_at: datetime = _instant()
    closed_at: datetime | None = _instant(nullable=True)
    close_reason: str | None = Field(default=None, max_length=40)
    last_evaluated_on: date | None = None
    last_right_party_contact_on: date | None = None
    pre_notice_delivered_on: date | None = None
    promises_broken: int = 0
    returned_by_agency: bool = False


class CaseAction(SQLModel, table=True):
    """When each action of the strategy was last done for a case: what makes a day idempotent."""

    __tablename__ = "case_actions"
    case_id: str = Field(primary_key=True, max_length=_ID)
    key: str = Field(primary_key=True, max_length=80)
    last_on: date


class TimelineEntry(SQLModel, table=True):
    """Every input and every decision of a case; a decision names its strategy, version, variant and rule."""

    __tablename__ = "case_timeline"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=_ID, index=True)
    at: datetime = _instant()
    entry: str = Field(max_length=40)
    detail: str = Field(default="", max_length=400)
    rule: str | None = Field(default=None, max_length=80)
    strategy: str | None = Field(default=None, max_length=80)
    variant: str | None = Field(default=None, max_length=_ID)
    actor: str | None = Field(default=None, max_length=_ID)


class ContactRequest(SQLModel, table=True):
    __tablename__ = "contact_requests"
    request_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID)
    customer_id: str = Field(max_length=_ID)
    channel: str = Field(max_length=10)
    template: str = Field(max_length=80)
    purpose: str = Field(max_length=40)
    # requested | sent | delivered | failed | deferred | blocked | cancelled
    status: str = Field(max_length=12)
    requested_at: datetime = _instant()
    delivered_on: date | None = None


class Task(SQLModel, table=True):
    """Work for people: calls, field visits, hardship reviews, follow-ups (定期回访)."""

    __tablename__ = "tasks"
    task_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID)
    kind: str = Field(max_length=20)  # call | field-visit | hardship-review | follow-up
    queue: str = Field(max_length=40, index=True)
    priority: int = 5
    status: str = Field(max_length=10)  # waiting | done | cancelled
    due_on: date
    collectors: int = 1
    rule: str | None = Field(default=None, max_length=80)
    created_at: datetime = _instant()
    assignee: str | None = Field(default=None, max_length=_ID)
    lease_expires_at: datetime | None = _instant(nullable=True)
    outcome: str | None = Field(default=None, max_length=40)


class CaseHold(SQLModel, table=True):
    __tablename__ = "holds"
    hold_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    kind: str = Field(max_length=20)
    started_on: date
    until_on: date | None = None
    ended_on: date | None = None
    reason: str = Field(default="", max_length=200)


class AccountFlag(SQLModel, table=True):
    __tablename__ = "account_flags"
    account_id: str = Field(primary_key=True, max_length=_ID)
    flag: str = Field(primary_key=True, max_length=20)
    set_at: datetime = _instant()


class Promise(SQLModel, table=True):
    __tablename__ = "promises"
    promise_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID, index=True)
    amount_minor: int = _money()
    currency: str = Field(max_length=3)
    due_on: date
    taken_on: date
    paid_minor: int = _money()
    status: str = Field(max_length=10)  # active | kept | broken
    source: str = Field(max_length=_ID)  # the agent or the partner who took it


class Plan(SQLModel, table=True):
    __tablename__ = "plans"
    plan_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID, index=True)
    kind: str = Field(max_length=20)
    # JSON list of [due date, amount minor].
    instalments: str = Field(sa_type=Text)
    paid_minor: int = _money()
    status: str = Field(max_length=10)  # active | completed | broken
    created_on: date


class Payment(SQLModel, table=True):
    """Payments the router has seen, so a reversal can take back what it counted."""

    __tablename__ = "payments"
    payment_id: str = Field(primary_key=True, max_length=_ID)
    account_id: str = Field(max_length=_ID)
    amount_minor: int = _money()
    counted_toward: str | None = Field(default=None, max_length=_ID)
    reversed: bool = False


class Placement(SQLModel, table=True):
    __tablename__ = "placements"
    placement_id: str = Field(primary_key=True, max_length=_ID)
    case_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID, index=True)
    kind: str = Field(max_length=10)  # agency | legal
    status: str = Field(max_length=10)  # requested | accepted | returned | recalled
    requested_at: datetime = _instant()


class CreditFileEntry(SQLModel, table=True):
    """The customer's collections history (信用档案)."""

    __tablename__ = "credit_file"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=_ID, index=True)
    account_id: str = Field(max_length=_ID)
    case_id: str = Field(max_length=_ID)
    behaviour: str = Field(max_length=20)
    recorded_at: datetime = _instant()
    detail: str = Field(default="", max_length=200)


class DelinquencyDay(SQLModel, table=True):
    """The bucket of each case on each business day: what roll rates are computed from."""

    __tablename__ = "delinquency_days"
    account_id: str = Field(primary_key=True, max_length=_ID)
    business_date: date = Field(primary_key=True)
    bucket: str = Field(max_length=4)
    variant: str = Field(max_length=_ID)


class IdempotentRequest(SQLModel, table=True):
    """The answer to each agent-desk write, by the client's Idempotency-Key."""

    __tablename__ = "idempotent_requests"
    key: str = Field(primary_key=True, max_length=200)
    subject: str = Field(primary_key=True, max_length=_ID)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_type=Text)
    created_at: datetime = _instant()


class AgentCertification(SQLModel, table=True):
    """A course an agent passed, and until when it lets them work cases; supervisors keep these."""

    __tablename__ = "agent_certifications"
    agent_id: str = Field(primary_key=True, max_length=_ID)
    course: str = Field(primary_key=True, max_length=_ID)
    passed_on: date
    expires_on: date
    recorded_by: str = Field(max_length=_ID)
    recorded_at: datetime = _instant()


cases = Case.__table__
case_actions = CaseAction.__table__
timeline = TimelineEntry.__table__
contact_requests = ContactRequest.__table__
tasks = Task.__table__
holds = CaseHold.__table__
account_flags = AccountFlag.__table__
promises = Promise.__table__
plans = Plan.__table__
payments = Payment.__table__
placements = Placement.__table__
credit_file = CreditFileEntry.__table__
delinquency_days = DelinquencyDay.__table__
idempotent_requests = IdempotentRequest.__table__
agent_certifications = AgentCertification.__table__
