"""Background work is supervised (issue 7, runtime item 4): a dead task ends the
process with a non-zero status, /healthz fails while it is dead, and /readyz
reports the consumer's group membership, the relay's progress and the age of the
oldest unpublished outbox row."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest
from collections_core.database import Database
from collections_core.outbox import OutboxRecord, insert_records
from collections_core.service import ServiceRuntime
from collections_core.supervision import EXIT_TASK_DIED
from sqlalchemy import text
from support import encode, ledger_service, payment

sys.path.insert(0, str(Path(__file__).parent))
import ledger_service as ledger  # noqa: E402

pytestmark = pytest.mark.integration


def in_process(database_url: str, bootstrap: str, topics: dict, **settings) -> ServiceRuntime:
    configured = ledger.LedgerSettings(
        service_name=topics["service"], database_url=database_url, kafka_bootstrap_servers=bootstrap,
        input_topics=topics["input"], output_topic=topics["output"], consumer_group=topics["service"],
        retry_backoff_max_seconds=1, **settings)
    return ServiceRuntime(configured, topics=[topics["input"]], handlers=ledger.handlers(topics["output"])[0],
                          migrations=Path(ledger.__file__).parent / "ledger_migrations",
                          workers=[ledger.failing_worker] if configured.failing_worker else [])


async def until(probe, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not met in {timeout}s (last: {last!r})")


async def test_a_dead_worker_ends_the_process_with_a_failure_status(kafka, topics, tmp_path):
    service = ledger_service(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}", kafka.bootstrap, topics["input"],
                             topics["output"], name=topics["service"]).start({"LEDGER_FAILING_WORKER": "true"})
    try:
        status = service.wait_exit(120)
    finally:
        service.stop()
    log = service.log_path.read_text()
    assert status == EXIT_TASK_DIED, log[-2000:]
    assert "supervised task died" in log and "failing_worker" in log and "lost its footing" in log
    assert "service stopped" in log, "it stopped gracefully before exiting"


async def test_healthz_fails_while_a_supervised_task_is_dead(kafka, topics, tmp_path):
    runtime = in_process(f"sqlite:///{tmp_path / 'ledger.db'}", kafka.bootstrap, topics, failing_worker=True)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app("ledger")), base_url="http://ledger")
    await runtime.start()
    try:
        assert (await client.get("/healthz")).status_code == 200
        dead = await until(lambda: _status(client, "/healthz", 503), what="/healthz 503")
        assert dead.headers["content-type"] == "application/problem+json"
        assert dead.json()["status"] == 503 and "failing_worker" in dead.json()["detail"]
    finally:
        await runtime.stop()
        await client.aclose()


async def test_readiness_reports_a_relay_that_makes_no_progress_and_an_aging_outbox(
        kafka, database_url, topics, tmp_path):
    runtime = in_process(database_url, kafka.bootstrap, topics, readiness_relay_stall_seconds=1.5,
                         readiness_outbox_age_seconds=1.5, relay_poll_interval_seconds=2)
    key, value, headers = encode(payment("A-1", "P-1"), "A-1")
    await runtime.start()
    blocker = Database(database_url)
    try:
        checks = await until(lambda: _all_true(runtime), what="ready")
        assert set(checks) == {"database", "kafka", "consumer", "relay", "outbox"}
        async with blocker.engine.connect() as lock:
            while True:
                # A committed row that no hand-over announces: the relay finds it at
                # its next idle read, publishes it, and cannot mark it published
                # while the table is locked.
                async with runtime.database.transaction() as connection:
                    [(row_id, _)] = await insert_records(
                        connection, [OutboxRecord(topics["output"], key, value, headers)], runtime.clock.now())
                await lock.begin()
                if lock.dialect.name == "postgresql":
                    await lock.execute(text("LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE"))
                published = (await lock.execute(
                    text("SELECT published_at FROM outbox WHERE id = :id"), {"id": row_id})).scalar()
                if published is None:
                    break
                await lock.rollback()  # the relay got there first: try again
            stuck = await until(lambda: _not_ready(runtime), what="not ready", timeout=60)
            assert stuck["relay"] is False and stuck["outbox"] is False
            assert stuck["database"] and stuck["kafka"] and stuck["consumer"]
            await lock.rollback()
        await until(lambda: _all_true(runtime), what="ready again", timeout=90)
    finally:
        await blocker.dispose()
        await runtime.stop()


async def _status(client: httpx.AsyncClient, path: str, status: int):
    response = await client.get(path)
    return response if response.status_code == status else None


async def _all_true(runtime):
    checks = await runtime.readiness()
    return checks if all(checks.values()) else None


async def _not_ready(runtime):
    checks = await runtime.readiness()
    return checks if not (checks["relay"] or checks["outbox"]) else None
