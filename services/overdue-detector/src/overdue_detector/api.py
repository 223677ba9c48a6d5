"""Detector HTTP API: an account's ledger and delinquency, the portfolio, re-running an ageing."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from sqlalchemy import select

from collections_core.http import Problem, problems
from overdue_detector.domain import assess
from overdue_detector.handlers import age_business_day, count_emitted, last_aged_day
from overdue_detector.ledger_store import load_account, load_ledger
from overdue_detector.portfolio import portfolio
from overdue_detector.tables import aged_days, day_number, delinquency_state, from_day_number

router = APIRouter(prefix="/v1")
Identifier = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class AgingRun(BaseModel):
    business_date: date


def _money(amount: int, currency: str) -> dict:
    return {"amount_minor": amount, "currency": currency}


@router.get("/accounts/{account_id}", responses=problems(404))
async def get_account(request: Request, account_id: Identifier) -> dict:
    runtime = request.app.state.runtime
    async with runtime.database.reading() as connection:
        account = await load_account(connection, account_id)
        if account is None:
            raise Problem(404, "Account not found", f"no account {account_id}")
        ledger = await load_ledger(connection, account)
        state = (await connection.execute(
            select(delinquency_state).where(delinquency_state.c.account_id == account_id))).first()
        last = await last_aged_day(connection)
    currency = account.currency
    # The past-due part of each cycle, by the same rules as the ageing, as of the last aged day.
    past_due = assess(ledger, last, runtime.detector.policy).past_due if last is not None else ()
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
async def get_portfolio(request: Request) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
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


@router.post("/aging-runs", responses=problems(409))
async def run_aging(request: Request, body: AgingRun) -> dict:
    runtime = request.app.state.runtime
    async with runtime.batch_unit_of_work() as work:
        last = await last_aged_day(work.connection)
        if last is None or body.business_date > last:
            raise Problem(409, "Business day not closed",
                          f"{body.business_date} is after the last closed business day ({last or 'none yet'})")
        already = (await work.connection.execute(
            select(aged_days).where(aged_days.c.business_day == day_number(body.business_date)))).first()
        if already is None and body.business_date < last:
            raise Problem(409, "Business day skipped",
                          f"{body.business_date} was never aged and is older than the last aged day {last}: "
                          "ageing it now would turn reported state back in time")
        # Ageing is idempotent per business date: a day already aged emits nothing again.
        emitted = await age_business_day(work, body.business_date, runtime.detector.policy,
                                         runtime.settings.service_name)
        count_emitted(runtime.settings.service_name, work)
        aged = already or (await work.connection.execute(
            select(aged_days).where(aged_days.c.business_day == day_number(body.business_date)))).first()
    return {"business_date": body.business_date.isoformat(), "aged": aged is not None,
            "events_emitted": emitted or 0,
            "accounts_delinquent": aged.accounts_delinquent if aged else None}
