"""Builders of CaseFacts for the router's table tests and properties."""

from dataclasses import replace
from datetime import date

from case_router.domain.ladder import CaseFacts
from case_router.domain.strategy import DEFAULT_STRATEGY, Stage, load_strategy

DEFAULT = load_strategy(DEFAULT_STRATEGY)
DAY = date(2026, 11, 2)


def facts(dpd: int = 1, stage: Stage = Stage.REMINDER, **changes) -> CaseFacts:
    base = CaseFacts(account_id="A-1", business_date=DAY, dpd=dpd, bucket="M1", past_due_minor=50_000,
                     balance_minor=1_000_000, stage=stage, variant="champion")
    return replace(base, **changes)
