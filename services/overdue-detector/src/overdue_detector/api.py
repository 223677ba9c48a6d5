"""Detector HTTP API: an account's ledger and delinquency, the portfolio, aging runs.

Reads need a token with any collections role; asking for an aging run needs operations.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy import insert, select

from collections_core.auth import Principal, require_roles
from collections_core.clock import Clock as ServiceClock
from collections_core.database import Database
from collections_core.http import Problem, problems
from overdue_detector.business_days import last_aged_day
from overdue_detector.domain import DelinquencyPolicy, assess
from overdue_detector.ledger_store import load_account, load_ledger
from overdue_detector.portfolio import portfolio
from overdue_detector.tables import aged_days, closed_days, day_number, delinquency_state, from_day_number

router = APIRouter(prefix="/v1")
Identifier = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Reader = Annotated[Principal, Depends(require_roles("operations", "supervisor", "agent", "compliance"))]
Operations = Annotated[Principal, Depends(require_roles("operations"))]


def _database(request: Request) -> Database:
    return request.app.state.runtime.database


def _policy(request: Request) -> DelinquencyPolicy:
    return request.app.state.runtime.settings.policy


def _clock(request: Request) -> ServiceClock:
    return request.app.state.runtime.clock


Store = Annotated[Database, Depends(_database)]
Clock = Annotated[ServiceClock, Depends(_clock)]
Policy = Annotated[DelinquencyPolicy, Depends(_policy)]


class AgingRun(BaseModel):
    business_date: date


def _money(amount: int, currency: str) -> dict:
    return {"amount_minor": amount, "currency": currency}


@router.get("/accounts/{account_id}", responses=problems(404))
async def get_account(account_id: Identifier, _: Reader, database: Store, policy: Policy) -> dict:
    async with database.reading() as connection:
        account = await load_account(connection, account_id)
        if account is None:
            raise Problem(404, "Account not found", f"no account {account_id}")
        ledger = await load_ledger(connection, account)
        state = (await connection.execute(
            select(delinquency_state).where(delinquency_state.c.account_id == account_id))).first()
        last = await last_aged_day(connection)
    currency = account.currency
    # The past-due part of each cycle, by the same rules as the aging, as of the last aged day.
    past_due = assess(ledger, last, policy).past_due if last is not None else ()
    return {
        "account_id": account.account_id, "customer_id": account.customer_id, "currency": currency,
        "status": ledger.status_on(last or date.max).value,
        "statements": [{
            "statement_id": s.statement_id, "cycle_date": s.cycle_date.isoformat(), "due_date": s.due_date.isoformat(),
            "minimum_due": _money(s.minimum_due, currency), "statement_balance": _money(s.statement_balance, currency),
        } for s in ledger.statements],
        "payments": [{
            "payment_id": p.payment_id, "amount": _money(p.amount, currency), "posted_on": p.posted_date.isoformat(),
            "value_date": p.value_date.isoformat(), "reversed": p.reversed,
        } for p in ledger.payments],
        "past_due_cycles": [{"statement_id": c.statement_id, "due_date": c.due_date.isoformat(),
                             "unpaid": _money(c.amount, currency)} for c in past_due],
        "delinquency": None if state is None else {
            "as_of": from_day_number(state.as_of_day).isoformat(), "dpd": state.dpd, "bucket": state.bucket,
            "past_due_amount": _money(int(state.past_due_minor), currency), "cycles_past_due": state.cycles_past_due,
            "oldest_due_date": from_day_number(state.oldest_due_day).isoformat() if state.oldest_due_day else None,
            "balance": _money(int(state.balance_minor), currency), "charged_off": bool(state.charged_off),
            "episode_open": bool(state.episode_open),
        },
    }


@router.get("/portfolio")
async def get_portfolio(_: Reader, database: Store) -> dict:
    async with database.reading() as connection:
        last = await last_aged_day(connection)
        summary = await portfolio(connection)
    return {
        "business_date": last.isoformat() if last else None,
        "buckets": [{"bucket": bucket, "accounts": count,
                     "past_due": [_money(amount, currency) for (b, currency), amount
                                  in sorted(summary.past_due_per_bucket.items()) if b == bucket]}
                    for bucket, count in summary.accounts_per_bucket.items()],
        "charged_off_accounts": summary.charged_off,
    }


def _aging_run(business_date: date, aged, waiting: bool) -> dict:
    return {"business_date": business_date.isoformat(), "aged": aged is not None, "waiting": waiting,
            "accounts_delinquent": aged.accounts_delinquent if aged else None,
            "events_emitted": aged.events_emitted if aged else None}


@router.post("/aging-runs", status_code=202,
             responses={200: {"description": "The day was aged already"}, **problems(409)})
async def run_aging(body: AgingRun, response: Response, _: Operations, database: Store, clock: Clock) -> dict:
    """Age a business day whose close was missed (or re-ask for an aged one: nothing is emitted again).

    The day joins the closed days waiting to be aged, which are aged oldest first once
    the postings on the log now are applied; GET /v1/aging-runs/{date} follows it.
    """
    if body.business_date >= clock.now().date():
        raise Problem(409, "Business day not over", f"{body.business_date} has not ended yet: it cannot be aged")
    day = day_number(body.business_date)
    async with database.transaction() as connection:
        aged = (await connection.execute(select(aged_days).where(aged_days.c.business_day == day))).first()
        if aged is not None:
            response.status_code = 200
            return _aging_run(body.business_date, aged, waiting=False)
        last = await last_aged_day(connection)
        if last is not None and body.business_date < last:
            raise Problem(409, "Business day skipped",
                          f"{body.business_date} was never aged and is older than the last aged day {last}: "
                          "aging it now would turn reported state back in time")
        waiting = (await connection.execute(select(closed_days.c.business_day).where(
            closed_days.c.business_day == day))).first()
        if waiting is None:
            await connection.execute(insert(closed_days).values(business_day=day, log_ends=None,
                                                                closed_at=clock.now()))
    response.headers["Location"] = f"/v1/aging-runs/{body.business_date.isoformat()}"
    return _aging_run(body.business_date, None, waiting=True)


@router.get("/aging-runs/{business_date}", responses=problems(404))
async def get_aging_run(business_date: date, _: Reader, database: Store) -> dict:
    day = day_number(business_date)
    async with database.reading() as connection:
        aged = (await connection.execute(select(aged_days).where(aged_days.c.business_day == day))).first()
        waiting = (await connection.execute(select(closed_days.c.business_day).where(
            closed_days.c.business_day == day))).first()
    if aged is None and waiting is None:
        raise Problem(404, "Aging run not found", f"{business_date} was neither closed nor aged")
    return _aging_run(business_date, aged, waiting=waiting is not None)
