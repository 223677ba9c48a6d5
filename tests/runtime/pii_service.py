"""A service on the real runtime whose code is careless with a customer's record,
run by the PII log scan as a separate OS process: what it logs is what the
platform would write to its log pipeline.

- CustomerUpserted: the handler logs the whole record three ways — as structured
  fields, as the protobuf's text in the message, and through a standard-library
  logger the way a vendor SDK would — then records the event as handled.
- POST /v1/customers: the route logs the posted record through the standard
  library and then fails with the record in the exception's message.

Configuration comes from PII_* variables (see ServiceSettings).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter
from google.protobuf.json_format import MessageToDict
from pydantic_settings import SettingsConfigDict

from collections_core.codec import type_of
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.logs import get_logger
from collections_core.service import ServiceRuntime, configure, serve
from collections_core.settings import ServiceSettings

log = get_logger(__name__)
vendor = logging.getLogger("sms_vendor.sdk")
router = APIRouter(prefix="/v1")


class PiiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PII_", extra="ignore", frozen=True)
    service_name: str = "pii-test"
    input_topics: str


async def customer_upserted(event, work) -> None:
    customer: customers_pb2.CustomerUpserted = event.message
    log.info("customer record received", customer=MessageToDict(customer, preserving_proto_field_name=True))
    log.info(f"customer record as text: {customer}")
    vendor.warning("registering recipient %s", {"name": customer.name, "phone": customer.phone,
                                                "email": customer.email})
    log.info("customer handled", customer_id=customer.customer_id)


@router.post("/customers")
async def save_customer(record: dict) -> dict:
    vendor.warning("saving %r", record)
    raise RuntimeError(f"could not save {record!r}")


def run() -> None:
    settings = PiiSettings()
    configure(settings)
    runtime = ServiceRuntime(settings, topics=settings.input_topics.split(","),
                             handlers={type_of(customers_pb2.CustomerUpserted): customer_upserted},
                             migrations=Path(__file__).parent / "ledger_migrations")
    serve(runtime.app("pii-test", [router]), settings)


if __name__ == "__main__":
    run()
