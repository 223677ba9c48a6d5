"""The webhook worker's rounds (decision 0074), on SQLite and PostgreSQL against real HTTP
receivers: a round's outcomes are recorded together, in one transaction, after its posts;
a round that cannot be recorded is sent again; no more than ``webhook_concurrency`` posts
are in flight at once."""

from __future__ import annotations

import asyncio
import socket
from contextlib import contextmanager
from datetime import timedelta

import pytest
from agency_gateway.tables import partners, webhook_attempts, webhook_deliveries
from agency_gateway.webhook_queue import enqueue
from agency_gateway.webhooks import WebhookSender
from gateway_testkit import LocalServer, gateway_settings, staff
from prometheus_client import REGISTRY
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.testing import capture_logs

pytestmark = pytest.mark.integration
RETRY_BASE = 30.0


class Receivers:
    """Partners' endpoints on one server: /ok answers 204, /down 503, /slow 204 after a pause
    (counting how many requests it holds at once and on how many connections they came)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (path, delivery id)
        self.in_flight = self.most_in_flight = 0
        self.connections: set[tuple[str, int]] = set()
        self.app = Starlette(routes=[Route("/ok", self.ok, methods=["POST"]),
                                     Route("/down", self.down, methods=["POST"]),
                                     Route("/slow", self.slow, methods=["POST"])])

    def _saw(self, request: Request) -> None:
        self.seen.append((request.url.path, request.headers["x-cc-delivery-id"]))

    async def ok(self, request: Request) -> Response:
        self._saw(request)
        return Response(status_code=204)

    async def down(self, request: Request) -> Response:
        self._saw(request)
        return Response(status_code=503)

    async def slow(self, request: Request) -> Response:
        self._saw(request)
        self.connections.add(request.scope["client"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.05)
        self.in_flight -= 1
        return Response(status_code=204)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/hooks"  # nobody listens once closed


async def queue(gateway, partner_id: str, count: int) -> list[str]:
    async with gateway.runtime.unit_of_work() as work:
        return [await enqueue(work, partner_id, "placement.created", {"placement_id": f"PL-{partner_id}-{n}"})
                for n in range(count)]


def sender(gateway, **settings) -> WebhookSender:
    return WebhookSender(gateway_settings(gateway.runtime.settings.database_url,
                                          webhook_retry_base_seconds=RETRY_BASE, **settings),
                         gateway.runtime.keyring, gateway.runtime.database)


async def deliveries(gateway, partner_id: str) -> dict[str, dict]:
    log = (await gateway.client.get(f"/v1/admin/partners/{partner_id}/webhook-deliveries",
                                    headers=staff("operations"))).json()["deliveries"]
    return {d["delivery_id"]: d for d in log}


async def attempts(gateway) -> dict[str, list]:
    async with gateway.runtime.database.reading() as connection:
        rows = (await connection.execute(select(webhook_attempts, webhook_deliveries.c.next_attempt_at).join(
            webhook_deliveries, webhook_deliveries.c.delivery_id == webhook_attempts.c.delivery_id))).all()
    found: dict[str, list] = {}
    for row in rows:
        found.setdefault(row.delivery_id, []).append(row)
    return found


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, {"service": "agency-gateway", **labels}) or 0.0


@contextmanager
def commits(database):
    """Counts the transactions committed on the gateway's database meanwhile."""
    count = [0]

    def committed(_connection) -> None:
        count[0] += 1

    event.listen(database.engine.sync_engine, "commit", committed)
    try:
        yield count
    finally:
        event.remove(database.engine.sync_engine, "commit", committed)


PARTNERS = ("AG-OK", "AG-DOWN", "AG-GONE", "AG-NONE", "AG-RETIRED")


async def mixed_round(gateway, server) -> dict[str, list[str]]:
    """Partners whose receivers answer 2xx, 503, nothing (no listener); one without a URL,
    and one whose webhook secret is sealed under a key the keyring no longer has."""
    await gateway.partner("AG-OK", webhook_url=f"{server.url}/ok")
    await gateway.partner("AG-DOWN", webhook_url=f"{server.url}/down")
    await gateway.partner("AG-GONE", webhook_url=closed_port_url())
    for partner in ("AG-NONE", "AG-RETIRED"):
        await gateway.partner(partner, webhook_url=f"{server.url}/ok")
    queued = {"AG-OK": await queue(gateway, "AG-OK", 3), "AG-DOWN": await queue(gateway, "AG-DOWN", 2),
              **{partner: await queue(gateway, partner, 1) for partner in ("AG-GONE", "AG-NONE", "AG-RETIRED")}}
    dropped = await gateway.client.patch("/v1/admin/partners/AG-NONE", json={"webhook_url": None},
                                         headers=staff("operations"))
    assert dropped.status_code == 200, dropped.text
    async with gateway.runtime.database.transaction() as connection:
        await connection.execute(update(partners).where(partners.c.partner_id == "AG-RETIRED").values(
            webhook_secret="retired-kid:AAAA:AAAA"))
    return queued


async def test_a_round_records_every_attempt_and_each_outcome(gateway):
    receivers = Receivers()
    before = {(partner, result): sample("gateway_webhook_attempts_total", partner=partner, result=result)
              for partner in PARTNERS for result in ("delivered", "failed")}
    timed_before = sample("gateway_webhook_latency_seconds_count")
    async with LocalServer(receivers.app) as server:
        queued = await mixed_round(gateway, server)
        worker = sender(gateway)
        try:
            assert await worker.deliver_due() == 8
            assert await worker.deliver_due() == 0, "delivered is not sent again, failed waits for its retry"
        finally:
            await worker.close()

    assert sorted(receivers.seen) == sorted([("/ok", d) for d in queued["AG-OK"]]
                                            + [("/down", d) for d in queued["AG-DOWN"]])
    tried = await attempts(gateway)
    assert sorted(tried) == sorted(d for ids in queued.values() for d in ids), "every attempt is logged"
    assert all(len(rows) == 1 and rows[0].attempt == 1 for rows in tried.values())
    expected = {"AG-OK": (204, None), "AG-DOWN": (503, "HTTP 503"), "AG-GONE": (None, "ConnectError"),
                "AG-NONE": (None, "the partner has no webhook URL or secret"), "AG-RETIRED": (None, "KeyError")}
    for partner, (status_code, error) in expected.items():
        log = await deliveries(gateway, partner)
        for delivery_id in queued[partner]:
            attempt, delivery = tried[delivery_id][0], log[delivery_id]
            assert (attempt.status_code, attempt.error) == (status_code, error), partner
            assert (delivery["attempts"], delivery["last_error"]) == (1, error), partner
            if error is None:
                assert delivery["status"] == "delivered" and delivery["delivered_at"] is not None
            else:
                assert delivery["status"] == "pending" and delivery["delivered_at"] is None
                assert attempt.next_attempt_at - attempt.attempted_at == timedelta(seconds=RETRY_BASE)
    counted = {(partner, result): sample("gateway_webhook_attempts_total", partner=partner, result=result)
               - before[partner, result] for partner, result in before}
    assert counted == {("AG-OK", "delivered"): 3, ("AG-OK", "failed"): 0, ("AG-DOWN", "delivered"): 0,
                       ("AG-DOWN", "failed"): 2, ("AG-GONE", "delivered"): 0, ("AG-GONE", "failed"): 1,
                       ("AG-NONE", "delivered"): 0, ("AG-NONE", "failed"): 1,
                       ("AG-RETIRED", "delivered"): 0, ("AG-RETIRED", "failed"): 1}
    assert sample("gateway_webhook_latency_seconds_count") == timed_before + 3
    assert sample("gateway_webhook_pending") == 5, "the five that failed, as the second round found them"


async def test_a_round_is_recorded_in_one_transaction(gateway):
    receivers = Receivers()
    async with LocalServer(receivers.app) as server:
        await mixed_round(gateway, server)
        worker = sender(gateway)
        try:
            with commits(gateway.runtime.database) as committed:
                assert await worker.deliver_due() == 8
        finally:
            await worker.close()
    assert committed[0] == 1, "eight outcomes, delivered and failed, in one commit"
    assert sum(len(rows) for rows in (await attempts(gateway)).values()) == 8


async def test_a_round_that_cannot_be_recorded_stays_pending_and_is_sent_again(gateway):
    receivers = Receivers()
    engine = gateway.runtime.database.engine.sync_engine

    def disk_full(_connection, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO webhook_attempts"):  # after the deliveries' UPDATE
            raise OperationalError(statement, None, Exception("database or disk is full"))

    async with LocalServer(receivers.app) as server:
        await gateway.partner("AG-OK", webhook_url=f"{server.url}/ok")
        queued = await queue(gateway, "AG-OK", 3)
        delivered_before = sample("gateway_webhook_attempts_total", partner="AG-OK", result="delivered")
        worker = sender(gateway)
        try:
            event.listen(engine, "before_cursor_execute", disk_full)
            try:
                with capture_logs() as logs, pytest.raises(OperationalError):
                    await worker.deliver_due()
            finally:
                event.remove(engine, "before_cursor_execute", disk_full)
            assert [entry for entry in logs if entry["log_level"] == "warning"] == [{
                "event": "webhook round posted but not recorded; its deliveries will be sent again",
                "deliveries": 3, "error": "OperationalError", "log_level": "warning"}]
            log = await deliveries(gateway, "AG-OK")
            assert all((log[d]["status"], log[d]["attempts"]) == ("pending", 0) for d in queued), "rolled back"
            assert await attempts(gateway) == {}
            assert sample("gateway_webhook_attempts_total", partner="AG-OK", result="delivered") == delivered_before

            assert await worker.deliver_due() == 3  # due still: sent again, and recorded this time
        finally:
            await worker.close()
    assert sorted(receivers.seen) == sorted(("/ok", d) for d in queued * 2), "at-least-once: each twice"
    log = await deliveries(gateway, "AG-OK")
    assert all((log[d]["status"], log[d]["attempts"]) == ("delivered", 1) for d in queued)
    assert sample("gateway_webhook_attempts_total", partner="AG-OK", result="delivered") == delivered_before + 3


async def test_no_more_posts_in_flight_than_the_setting_allows(gateway):
    receivers = Receivers()
    async with LocalServer(receivers.app) as server:
        await gateway.partner("AG-SLOW", webhook_url=f"{server.url}/slow")
        queued = await queue(gateway, "AG-SLOW", 10)
        worker = sender(gateway, webhook_concurrency=3)
        try:
            assert await worker.deliver_due() == 10
            queued += await queue(gateway, "AG-SLOW", 10)
            assert await worker.deliver_due() == 10
        finally:
            await worker.close()
    assert sorted(d for _, d in receivers.seen) == sorted(queued)
    assert receivers.most_in_flight == 3, "three at once, never more"
    assert len(receivers.connections) <= 3, "the client keeps as many connections as posts in flight, across rounds"
