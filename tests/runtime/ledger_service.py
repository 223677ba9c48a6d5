"""A minimal service on the real runtime (ServiceRuntime, the same composition the
four services use), run by the runtime's integration and fault tests as a
separate OS process.

- PaymentPosted: writes one ``effects`` row and emits an AccountCured for the same
  payment to ``LEDGER_OUTPUT_TOPIC``; a payment not in CNY is rejected (DLQ).
- AccountCured: writes one ``effects`` row (so a second instance can stand
  downstream of the first and show what "takes effect once" means there).

``effects`` has no unique key: a duplicated effect would show as a second row.
Configuration comes from LEDGER_* variables (see ServiceSettings).
"""

from __future__ import annotations

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


def handlers(output_topic: str):
    async def payment_posted(event, work) -> None:
        payment: payments_pb2.PaymentPosted = event.message
        if payment.amount.currency != "CNY":
            raise Rejected(f"payment currency {payment.amount.currency} is not the account currency CNY")
        await work.connection.execute(insert(effects).values(
            event_id=event.id, ce_type=event.type, payment_id=payment.payment_id))
        work.emit(output_topic, delinquency_pb2.AccountCured(
            account_id=payment.account_id, payment_id=payment.payment_id), key=payment.account_id)

    async def account_cured(event, work) -> None:
        await work.connection.execute(insert(effects).values(
            event_id=event.id, ce_type=event.type, payment_id=event.message.payment_id))

    return {type_of(payments_pb2.PaymentPosted): payment_posted, type_of(delinquency_pb2.AccountCured): account_cured}


def run() -> None:
    settings = LedgerSettings()
    configure(settings)
    runtime = ServiceRuntime(settings, topics=settings.input_topics.split(","),
                             handlers=handlers(settings.output_topic),
                             migrations=Path(__file__).parent / "ledger_migrations")
    serve(runtime.app("ledger-test"), settings)


if __name__ == "__main__":
    run()
