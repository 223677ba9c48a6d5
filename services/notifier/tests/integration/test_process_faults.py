"""The notifier as a real process against the real broker, a stand-in provider in
a second process, and the test's database: SIGKILL right after the provider
accepted a message, then a 5xx storm; the broker stopped and started again while
requests flow — every contact reaches its customer once."""

import asyncio
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from local_kafka import create_topic
from support import ServiceProcess, encode, free_port, produce, read_topic

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
CUSTOMERS = 12
DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")


def daytime_zone() -> str:
    """A fixed-offset zone where it is early afternoon now, so quiet hours never hold the test up."""
    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s")


def provider_stats(url: str) -> dict:
    return httpx.get(f"{url}/stats", timeout=5).json()


def start_pair(kafka, postgres, tmp_path, run: str) -> tuple[ServiceProcess, ServiceProcess, list[str]]:
    """The stand-in provider (started) and the notifier (not yet) on this run's own topics and database."""
    database_url = postgres.dsn(postgres.create_database(f"notifier_{run}"))
    topics = [f"customers.{run}", f"contact-requests.{run}"]
    provider_port, notifier_port = free_port(), free_port()
    provider = ServiceProcess([sys.executable, "-m", "notifier.standins.sms_provider", "--port", str(provider_port),
                               "--secret", "s"], {}, tmp_path / "provider.log", http_port=provider_port).start()
    notifier = ServiceProcess([sys.executable, str(HERE / "notifier_process.py")], {
        "TEST_TOPICS": ",".join(topics), "NOTIFIER_SERVICE_NAME": f"notifier-{run}",
        "NOTIFIER_DATABASE_URL": database_url, "NOTIFIER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "NOTIFIER_HTTP_PORT": str(notifier_port), "NOTIFIER_SMS_PROVIDER_URL": provider.url,
        "NOTIFIER_SMS_WEBHOOK_SECRET": "s", "NOTIFIER_DEFAULT_PACK": "US", "NOTIFIER_SMS_ATTEMPTS": "2",
        "NOTIFIER_SMS_BACKOFF_SECONDS": "0.05", "NOTIFIER_SMS_BREAKER_RESET_SECONDS": "0.5",
        "NOTIFIER_RETRY_BACKOFF_MAX_SECONDS": "1", "NOTIFIER_DISPATCH_CLAIM_SECONDS": "2",
        "NOTIFIER_RELAY_POLL_INTERVAL_SECONDS": "0.1", "NOTIFIER_DISPATCH_INTERVAL_SECONDS": "0.1",
    }, tmp_path / "notifier.log", http_port=notifier_port)
    wait_for(lambda: _answers(provider.url), what="provider up")
    return provider, notifier, topics


async def create_topics(kafka, run: str, topics: list[str]) -> None:
    for topic in topics:
        await create_topic(kafka.bootstrap, topic, 3)
    await create_topic(kafka.bootstrap, f"notifier-{run}.dlq.v1", 1)


def customers_in_daytime(run: str, count: int) -> list:
    zone = daytime_zone()
    return [encode(customers_pb2.CustomerUpserted(
        customer_id=f"C-{n}-{run}", name="Jane Roe", phone=f"+1202555{n:04d}", email="j@example.com",
        time_zone=zone, language="en"), f"C-{n}-{run}") for n in range(count)]


def overdue_notices(run: str, customers: range) -> list:
    return [encode(contacts_pb2.ContactRequested(
        request_id=f"R-{n}-{run}", account_id=f"A-{n}-{run}", customer_id=f"C-{n}-{run}", case_id="K",
        channel=contacts_pb2.CHANNEL_SMS, template="overdue.sms",
        parameters={"amount_minor": "5000", "currency": "USD", "card_last4": "0001"}), f"C-{n}-{run}")
        for n in customers]


async def test_sigkill_after_hand_over_and_a_5xx_storm_reach_each_customer_once(kafka, postgres, tmp_path):
    """On PostgreSQL only: the same crash on SQLite is covered in-process by test_dispatch.py."""
    run = uuid.uuid4().hex[:8]
    provider, notifier, topics = start_pair(kafka, postgres, tmp_path, run)
    try:
        await create_topics(kafka, run, topics)
        await produce(kafka.bootstrap, topics[0], customers_in_daytime(run, CUSTOMERS))
        await produce(kafka.bootstrap, topics[1], overdue_notices(run, range(CUSTOMERS)))
        notifier.start({"CC_CRASH_AT": "notifier-after-hand-over"})
        assert notifier.wait_exit(120) == -signal.SIGKILL, "the crash point was never reached"
        # Customers are served side by side: a few messages may have been out when we died.
        out_at_crash = provider_stats(provider.url)["messages"]
        assert out_at_crash >= 1, "the provider had a message when we died"

        httpx.post(f"{provider.url}/control", json={"fail_next": 6, "fail_status": 503}, timeout=5)
        notifier.start()
        wait_for(lambda: provider_stats(provider.url)["messages"] >= CUSTOMERS, timeout=120, what="every SMS out")
        # Receipts for messages accepted while we were dead found no one listening (the
        # stand-in does not retry them); every other one comes back by the signed webhook.
        sent_ids, delivered_ids = await _contacts_sent(kafka.bootstrap, run, CUSTOMERS, CUSTOMERS - out_at_crash)
        time.sleep(1)  # anything sent twice would arrive now
        stats = provider_stats(provider.url)
    finally:
        notifier.stop()
        provider.stop()
    assert sent_ids == sorted(f"R-{n}-{run}" for n in range(CUSTOMERS))
    assert len(delivered_ids) >= CUSTOMERS - out_at_crash and set(delivered_ids) <= set(sent_ids)
    assert stats["messages"] == CUSTOMERS and stats["duplicates"] == 0
    assert stats["replayed"] >= 1, "the message in flight at the crash was sent again under its key"
    assert stats["failed_on_purpose"] == 6


async def test_the_consumer_hands_contacts_allowed_on_arrival_to_the_dispatcher_once_committed(
        kafka, postgres, tmp_path):
    """Through the real consumer (decision 0065): with leases of ten minutes, the store's
    rounds could not send these requests within the minute; the consumer's committed
    transaction hands them over at once."""
    run = uuid.uuid4().hex[:8]
    provider, notifier, topics = start_pair(kafka, postgres, tmp_path, run)
    try:
        await create_topics(kafka, run, topics)
        await produce(kafka.bootstrap, topics[0], customers_in_daytime(run, CUSTOMERS))
        notifier.start({"NOTIFIER_DISPATCH_CLAIM_SECONDS": "600"})
        # The customers first: a request for a customer not known yet waits a minute in the store.
        wait_for(lambda: _consumed(notifier.url, topics[0]) >= CUSTOMERS, what="the customers known")
        await produce(kafka.bootstrap, topics[1], overdue_notices(run, range(CUSTOMERS)))
        wait_for(lambda: provider_stats(provider.url)["messages"] >= CUSTOMERS, timeout=60,
                 what="every SMS out long before the leases end")
        sent_ids, _ = await _contacts_sent(kafka.bootstrap, run, CUSTOMERS, 0)
        stats = provider_stats(provider.url)
    finally:
        notifier.stop()
        provider.stop()
    assert stats["messages"] == CUSTOMERS and stats["duplicates"] == 0
    assert sorted(set(sent_ids)) == sorted(f"R-{n}-{run}" for n in range(CUSTOMERS))


async def test_a_broker_restart_while_requests_flow_loses_and_doubles_no_contact(kafka, postgres, tmp_path):
    """The broker stops after the first requests went out and starts again; more
    requests follow. Each customer gets their SMS once, and each ContactSent reaches the topic."""
    run = uuid.uuid4().hex[:8]
    count = 30
    provider, notifier, topics = start_pair(kafka, postgres, tmp_path, run)
    try:
        await create_topics(kafka, run, topics)
        await produce(kafka.bootstrap, topics[0], customers_in_daytime(run, count))
        await produce(kafka.bootstrap, topics[1], overdue_notices(run, range(0, 10)))
        notifier.start()
        wait_for(lambda: provider_stats(provider.url)["messages"] >= 10, timeout=120, what="the first SMS out")
        kafka.stop()
        try:
            wait_for(lambda: not _ready(notifier.url), timeout=60, what="the notifier seeing the broker gone")
            time.sleep(2)
        finally:
            kafka.start()
            kafka.wait_ready()
        await produce(kafka.bootstrap, topics[1], overdue_notices(run, range(10, count)))
        wait_for(lambda: provider_stats(provider.url)["messages"] >= count, timeout=120, what="every SMS out")
        sent_ids, _ = await _contacts_sent(kafka.bootstrap, run, count, 0, timeout=120)
        time.sleep(1)  # anything sent twice would arrive now
        stats = provider_stats(provider.url)
    finally:
        if not kafka.is_running():
            kafka.start()
            kafka.wait_ready()
        notifier.stop()
        provider.stop()
    assert stats["messages"] == count and stats["references"] == count and stats["duplicates"] == 0
    assert sorted(set(sent_ids)) == sorted(f"R-{n}-{run}" for n in range(count)), "every ContactSent published"


async def _contacts_sent(bootstrap: str, run: str, sent: int, receipts: int, timeout: float = 60.0
                         ) -> tuple[list[str], list[str]]:
    """Request ids of ContactSent and of ContactDelivered for this run."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_topic(bootstrap, "collections.contact-events.v1", expect=1, timeout=5)
        events = [DECODER.decode(r.headers, r.value) for r in records if r.key.decode().endswith(run)]
        sent_ids = sorted(e.message.request_id for e in events if e.type == "collections.v1.ContactSent")
        delivered = sorted(e.message.request_id for e in events if e.type == "collections.v1.ContactDelivered")
        if (len(sent_ids) >= sent and len(delivered) >= receipts) or time.monotonic() > deadline:
            return sent_ids, delivered
        await asyncio.sleep(0.5)


def _consumed(url: str, topic: str) -> float:
    """Events of ``topic`` the notifier has handled, by its metrics."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("cc_events_consumed_total{") and f'topic="{topic}"' in line)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/stats", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
