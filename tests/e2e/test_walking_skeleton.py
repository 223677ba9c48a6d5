"""The platform end to end: four services as separate OS processes on a real broker,
an SMS provider stand-in as a real HTTP server, every API behind its bearer tokens.

StatementIssued, then BusinessDayClosed past due date + grace
→ detector: AccountBecameDelinquent → router: case + overdue SMS request (its rule named)
→ notifier: policy-checked at 10:00 in the customer's zone (the services follow a
shared simulated clock), POST to the SMS provider → ContactSent → on the router's case.
And a partner, with a token from the gateway's OAuth endpoint, lists the placement the
gateway made for a PlacementRequested.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import uuid
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    customers_pb2,
    statements_pb2,
)
from collections_core.auth import mint_token
from collections_core.clock import FileClock
from collections_core.money import Money
from collections_core.wire import date_to_proto
from support import CLEAN_EXIT, ServiceProcess, encode, free_port, produce

pytestmark = pytest.mark.integration
RUNS = itertools.count()


class SmsProvider:
    """Accepts messages like a real provider: one message per idempotency key."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.by_key: dict[str, str] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                provider.received.append({"key": key, **body})
                message_id = provider.by_key.setdefault(key, f"msg-{len(provider.by_key) + 1}")
                payload = json.dumps({"id": message_id}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_for(request, tmp_path):
    """Each service's own database, on one engine per run."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    server = request.getfixturevalue("postgres")
    run = uuid.uuid4().hex[:8]
    return lambda name: server.dsn(server.create_database(f"e2e_{name.replace('-', '_')}_{run}"))


SECRET = "e2e-" + uuid.uuid4().hex  # every service verifies bearer tokens with it
PARTNERS = "services/agency-gateway/partners.example.yaml"


def service(name: str, module: str, prefix: str, database_url: str, tmp_path, bootstrap: str, run: str,
            **extra) -> ServiceProcess:
    port = free_port()
    env = {f"{prefix}_DATABASE_URL": database_url, f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           f"{prefix}_HTTP_PORT": str(port), f"{prefix}_CONSUMER_GROUP": f"{name}-{run}",
           f"{prefix}_RELAY_POLL_INTERVAL_SECONDS": "0.1", f"{prefix}_AUTH_JWT_SECRET": SECRET,
           **{f"{prefix}_{k.upper()}": v for k, v in extra.items()}}
    return ServiceProcess([sys.executable, "-m", module], env, tmp_path / f"{name}.log", http_port=port)


def wait_for(probe, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not met in {timeout}s (last: {last!r})")


def consumed(process: ServiceProcess, ce_type: str) -> float:
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("cc_events_consumed_total{") and f'type="{ce_type}"' in line)


async def test_delinquent_account_gets_a_case_and_one_sms_reminder(kafka, database_for, tmp_path):
    run = uuid.uuid4().hex[:8]
    account, customer = f"ACC-{run}", f"CUS-{run}"
    # The topics are shared: a later run's fresh consumer groups replay an earlier
    # run's events from offset 0, including its business-day close. Each run lives in
    # its own year so that the earlier close is an older day, not this run's.
    year = 2040 + next(RUNS)  # and apart from the other tests' years on the same topics
    provider = SmsProvider()
    # Mid-morning in Shanghai on the day the account goes past due: inside every pack's hours.
    clock = tmp_path / "clock"
    FileClock.write(clock, datetime.fromisoformat(f"{year}-10-29T10:00:00+08:00"))
    processes = {
        name: service(name, module, prefix, database_for(name), tmp_path, kafka.bootstrap, run,
                      clock_file=str(clock), **extra)
        for name, module, prefix, extra in [
            ("overdue-detector", "overdue_detector.main", "DETECTOR", {}),
            ("case-router", "case_router.main", "ROUTER", {}),
            ("notifier", "notifier.main", "NOTIFIER", {"sms_provider_url": provider.url}),
            ("agency-gateway", "agency_gateway.main", "GATEWAY", {"partner_seed_file": PARTNERS})]
    }
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_healthy()
        pids = {p.process.pid for p in processes.values()}
        assert len(pids) == 4, "each service is its own process"

        await produce(kafka.bootstrap, "corebanking.customers.v1", [encode(customers_pb2.CustomerUpserted(
            customer_id=customer, name="Li Lei", phone="+8613800138000", time_zone="Asia/Shanghai",
            language="zh-CN"), customer)])
        await produce(kafka.bootstrap, "corebanking.accounts.v1", [encode(accounts_pb2.AccountOpened(
            account_id=account, customer_id=customer, currency="CNY",
            credit_limit=Money(5_000_000, "CNY").to_proto(), opened_on=date_to_proto(date(year, 1, 5))), account)])
        # Accounts and statements are separate topics with no order between them (a
        # group reading both from offset 0 may meet the statement first): open first.
        detector = processes["overdue-detector"].url
        reader = {"Authorization": f"Bearer {mint_token(SECRET, 'e2e', ['operations'])}"}
        wait_for(lambda: httpx.get(f"{detector}/v1/accounts/{account}", headers=reader, timeout=5).status_code == 200,
                 what="detector opened the account")
        await produce(kafka.bootstrap, "corebanking.statements.v1", [encode(statements_pb2.StatementIssued(
            account_id=account, statement_id=f"ST-{run}", cycle_date=date_to_proto(date(year, 10, 1)),
            due_date=date_to_proto(date(year, 10, 25)), statement_balance=Money(1_000_000, "CNY").to_proto(),
            minimum_due=Money(50_000, "CNY").to_proto()), account)])
        wait_for(lambda: consumed(processes["overdue-detector"], "corebanking.v1.StatementIssued") >= 1,
                 what="detector applied the statement")
        # Due 25 Oct, grace 3 days: unpaid at the end of the 28th, so past due on the 29th.
        await produce(kafka.bootstrap, "corebanking.business-days.v1", [encode(
            business_days_pb2.BusinessDayClosed(business_date=date_to_proto(date(year, 10, 29))), "business-day")])

        agent = {"Authorization": f"Bearer {mint_token(SECRET, 'agent-7', ['agent'])}"}

        def case_with_contact():
            response = httpx.get(f"{processes['case-router'].url}/v1/accounts/{account}/case", headers=agent,
                                 timeout=5)
            if response.status_code != 200:
                return None
            case = response.json()
            return case if any(e["entry"] == "contact-sent" for e in case["timeline"]) else None

        case = wait_for(case_with_contact, timeout=90, what="ContactSent on the case")
        assert case["stage"] == "reminder" and case["status"] == "open" and case["dpd"] == 4
        request = next(e for e in case["timeline"] if e["entry"] == "contact-requested")["detail"].split()[1]
        # An earlier run's replayed requests may reach this run's provider too: count this request's.
        [sms] = [m for m in provider.received if m["key"] == request]
        assert sms["to"] == "+8613800138000" and sms["template"] == "overdue.sms", "one SMS, under its key"

        placement = f"PL-{run}"
        await produce(kafka.bootstrap, "collections.placements.v1", [encode(placements_pb2.PlacementRequested(
            placement_id=placement, case_id=case["case_id"], account_id=account, customer_id=customer,
            kind=placements_pb2.PLACEMENT_KIND_AGENCY, amount=Money(50_000, "CNY").to_proto(), dpd=95,
            region="CN-31"), account)])

        gateway = processes["agency-gateway"].url
        grant = httpx.post(f"{gateway}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": "national-recovery",
            "client_secret": "dev-national-client-secret"}, timeout=10)
        assert grant.status_code == 200, grant.text
        partner = {"Authorization": f"Bearer {grant.json()['access_token']}"}

        def listed():
            body = httpx.get(f"{gateway}/v1/placements", params={"account_id": account}, headers=partner,
                             timeout=5).json()
            return [p for p in body["placements"] if p["placement_id"] == placement]

        [listed_placement] = wait_for(listed, what="placement listed by the gateway")
        assert listed_placement["kind"] == "agency" and listed_placement["amount"] == {
            "amount_minor": 50_000, "currency": "CNY"}
        problem = httpx.get(f"{processes['case-router'].url}/v1/cases/no-such-case", headers=agent, timeout=5)
        assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"
    finally:
        codes = {name: process.stop() for name, process in processes.items()}
        provider.close()
    assert all(code in CLEAN_EXIT for code in codes.values()), f"every service shuts down cleanly: {codes}"
    for name in processes:
        log = (tmp_path / f"{processes[name].log_path.name}").read_text()
        assert "13800138000" not in log and "Li Lei" not in log, f"PII in {name}'s log"
