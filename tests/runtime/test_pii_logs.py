"""PII log scan: a service that logs a customer's record every careless way writes
none of the customer's name, phone, e-mail or address lines to its log — neither
through structlog nor through the standard library (a vendor SDK, uvicorn), nor in
the traceback of a failed request — and the failed request is a bare 500 problem."""

from __future__ import annotations

import json
import sys
import time
import uuid

import httpx
import pytest
from collections_core.contracts.corebanking.v1 import customers_pb2
from support import ROOT, ServiceProcess, encode, free_port, produce

pytestmark = pytest.mark.integration

NAME, PHONE, EMAIL, STREET = "Wang Xiaoming", "+8613912345678", "wang.xm@example.cn", "88 Jianguo Road"
PERSONAL = (NAME, PHONE, PHONE[3:], EMAIL, STREET)


def pii_service(tmp_path, database_url: str, bootstrap: str, topic: str) -> ServiceProcess:
    name = f"pii-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {"PII_SERVICE_NAME": name, "PII_DATABASE_URL": database_url, "PII_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "PII_INPUT_TOPICS": topic, "PII_CONSUMER_GROUP": name, "PII_HTTP_PORT": str(port),
           "PII_RETRY_BACKOFF_MAX_SECONDS": "1", "PII_LOG_LEVEL": "INFO"}
    return ServiceProcess([sys.executable, str(ROOT / "tests/runtime/pii_service.py")], env,
                          tmp_path / f"{name}.log", http_port=port)


def wait_for_line(service: ServiceProcess, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in service.log_path.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"no log line with {text!r} in {timeout}s; see {service.log_path}")


async def test_customer_records_are_masked_in_every_log_line(kafka, database_url, topics, tmp_path):
    customer_id = f"C-{uuid.uuid4().hex[:8]}"
    record = customers_pb2.CustomerUpserted(
        customer_id=customer_id, name=NAME, phone=PHONE, email=EMAIL, time_zone="Asia/Shanghai",
        address=customers_pb2.PostalAddress(lines=[STREET], city="Beijing", country="CN"))
    service = pii_service(tmp_path, database_url, kafka.bootstrap, topics["input"]).start()
    try:
        service.wait_healthy()
        await produce(kafka.bootstrap, topics["input"], [encode(record, customer_id)])
        async with httpx.AsyncClient(base_url=service.url) as client:
            failed = await client.post("/v1/customers", json={"name": NAME, "phone": PHONE, "email": EMAIL})
        wait_for_line(service, customer_id)
    finally:
        service.stop()

    assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["detail"] == "the request could not be completed"
    assert not any(value in failed.text for value in PERSONAL) and "RuntimeError" not in failed.text

    output = service.log_path.read_text()
    leaked = [value for value in PERSONAL if value in output]
    assert not leaked, f"{leaked} in clear in {service.log_path}"
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    received = next(line for line in lines if line["event"] == "customer record received")
    assert received["customer"]["name"] == "[redacted]" and received["customer"]["phone"] == "[redacted]"
    assert received["customer"]["customer_id"] == customer_id
    as_text = next(line for line in lines if line["event"].startswith("customer record as text"))
    assert 'name: [redacted]' in as_text["event"] and "time_zone" in as_text["event"]
    vendor = [line for line in lines if line.get("logger") == "sms_vendor.sdk"]
    assert len(vendor) == 2 and all("'phone': [redacted]" in line["event"] for line in vendor)
    assert all(line["service"].startswith("pii-") for line in vendor)
    failure = next(line for line in lines if line["event"] == "unhandled error in request")
    assert failure["error"] == "RuntimeError" and "could not save" in failure["exception"]
