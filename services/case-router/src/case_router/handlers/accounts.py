"""corebanking.accounts.v1: account status and the customer flags core banking knows.

Core banking reports a death or a bankruptcy as an AccountStatusChanged whose reason
is "deceased" or "bankruptcy" (accounts.proto has no flags field); the router turns
those into account flags (holds.py says what each flag stops). Closing, blocking or
charging off an account is recorded on the case: the debt stays owed.
"""

from __future__ import annotations

from sqlalchemy import insert, select

from case_router import casebook
from case_router.domain.strategy import Strategy
from case_router.tables import account_flags
from collections_core.codec import Event, type_of
from collections_core.contracts.corebanking.v1 import accounts_pb2
from collections_core.unit_of_work import UnitOfWork

FLAG_REASONS = frozenset({"deceased", "bankruptcy"})


async def set_flag(work: UnitOfWork, account_id: str, flag: str) -> bool:
    present = (await work.connection.execute(select(account_flags.c.flag).where(
        account_flags.c.account_id == account_id, account_flags.c.flag == flag))).first()
    if present:
        return False
    await work.connection.execute(insert(account_flags).values(account_id=account_id, flag=flag, set_at=work.now))
    return True


def handlers(strategy: Strategy):
    async def status_changed(event: Event, work: UnitOfWork) -> None:
        message: accounts_pb2.AccountStatusChanged = event.message
        reason = message.reason.strip().lower()
        if reason in FLAG_REASONS:
            await set_flag(work, message.account_id, reason)
        case = await casebook.open_case_of(work, message.account_id)
        if case is not None:
            status = accounts_pb2.AccountStatus.Name(message.status).removeprefix("ACCOUNT_STATUS_").lower()
            await casebook.note(work, case.case_id, "account-status", f"{status} {reason}".strip())

    return {type_of(accounts_pb2.AccountStatusChanged): status_changed}
