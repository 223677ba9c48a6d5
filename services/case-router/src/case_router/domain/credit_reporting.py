"""Credit reporting (征信): a negative report only after prior notice.

The bank may ask the bureau to list a delinquency only when a pre-notice to the
customer was delivered (a ContactDelivered for it, not merely sent), its waiting
period has passed, and the account is still delinquent on that day.
"""

from __future__ import annotations

from datetime import date, timedelta


def may_report(pre_notice_delivered_on: date | None, today: date, wait_days: int, dpd: int) -> bool:
    if pre_notice_delivered_on is None or dpd <= 0:
        return False
    return today >= pre_notice_delivered_on + timedelta(days=wait_days)
