"""A minimal service on the real runtime (ServiceRuntime, the same composition the
four services use), run by the runtime's integration and fault tests as a
separate OS process.

- PaymentPosted: writes one ``effects`` row and emits an AccountCured for the same
  payment to ``LEDGER_OUTPUT_TOPIC``; a payment not in CNY is rejected (DLQ), and
  so is one whose id is listed in the file ``LEDGER_REJECT_FILE`` (a bug that the
  test fixes by emptying the file). A payment id containing ``BUG-`` makes the
  handler fail after its write (a bug: retried, then dead-lettered); one starting
  ``FLAKY-`` fails with a connection error its first five times (transient: retried,
  never dead-lettered).
- AccountCured: writes one ``effects`` row (so a second instance can stand
  downstream of the first and show what "takes effect once" means there).

``effects`` has no unique key: a duplicated effect would show as a second row.
With ``LEDGER_FAILING_WORKER=1`` a worker dies a moment after start (supervision).
With ``LEDGER_BATCH=1`` payments go to a batch handler (runtime batch handlers): the
same rules, the effects written with one executemany, and each run's size recorded
as an ``effects`` row of type ``batch`` (payment_id = its size).
Configuration comes from LEDGER_* variables (see ServiceSettings).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from pydantic_settings import SettingsConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from collections_core.codec import Rejected, type_of
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.service import ServiceRuntime, configure, serve
from collections_core.settings import ServiceSettings

effects = Table(
    "effects", MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False),
    Column("ce_type", String(200), nullable=False),
    Column("payment_id", String(100), nullable=False),
)


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore", frozen=True)
    service_name: str = "ledger-test"
    input_topics: str
    output_topic: str = ""
    reject_file: str = ""
    failing_worker: bool = False
    batch: bool = False


PAYMENT, CURED = type_of(payments_pb2.PaymentPosted), type_of(delinquency_pb2.AccountCured)


def handlers(output_topic: str, reject_file: str = "", batch: bool = False):
    """(handlers, batch handlers)"""
    flaky_failures = Counter()

    def check(payment: payments_pb2.PaymentPosted) -> None:
        if payment.amount.currency != "CNY":
            raise Rejected(f"payment currency {payment.amount.currency} is not the account currency CNY")
        if reject_file and Path(reject_file).exists() and payment.payment_id in Path(reject_file).read_text().split():
            raise Rejected(f"payment {payment.payment_id} is on the reject list")
        if payment.payment_id.startswith("FLAKY-") and flaky_failures[payment.payment_id] < 5:
            flaky_failures[payment.payment_id] += 1
            raise ConnectionResetError("the ledger's upstream hung up")

    def cure(work, event) -> None:
        payment = event.message
        work.emit(output_topic, delinquency_pb2.AccountCured(
            account_id=payment.account_id, payment_id=payment.payment_id), key=payment.account_id, cause=event)

    async def payment_posted(event, work) -> None:
        check(event.message)
        await work.connection.execute(insert(effects).values(
            event_id=event.id, ce_type=event.type, payment_id=event.message.payment_id))
        if "BUG-" in event.message.payment_id:
            raise KeyError("posting rule for " + event.message.payment_id)
        cure(work, event)

    async def payments_posted(events, work) -> None:
        for event in events:
            check(event.message)
        await work.connection.execute(insert(effects), [
            {"event_id": e.id, "ce_type": e.type, "payment_id": e.message.payment_id} for e in events])
        await work.connection.execute(insert(effects).values(
            event_id=events[0].id, ce_type="batch", payment_id=str(len(events))))
        for event in events:
            if "BUG-" in event.message.payment_id:
                raise KeyError("posting rule for " + event.message.payment_id)
            cure(work, event)

    async def account_cured(event, work) -> None:
        await work.connection.execute(insert(effects).values(
            event_id=event.id, ce_type=event.type, payment_id=event.message.payment_id))

    if batch:
        return {CURED: account_cured}, {PAYMENT: payments_posted}
    return {PAYMENT: payment_posted, CURED: account_cured}, {}


async def failing_worker(runtime) -> None:
    await asyncio.sleep(1)
    raise RuntimeError("the ledger's worker lost its footing")


def run() -> None:
    settings = LedgerSettings()
    configure(settings)
    single, batch = handlers(settings.output_topic, settings.reject_file, settings.batch)
    runtime = ServiceRuntime(settings, topics=settings.input_topics.split(","), handlers=single, batch_handlers=batch,
                             migrations=Path(__file__).parent / "ledger_migrations",
                             workers=[failing_worker] if settings.failing_worker else [])
    serve(runtime.app("ledger-test"), settings)


if __name__ == "__main__":
    run()
