"""A real Prometheus, started with the project's config and rules, scrapes the four
services running on the real broker after a customer has gone through the walking
skeleton (delinquent → case → SMS → cure, and a placement a payment is attributed to). Every dashboard panel's
query must return series, every alert rule must evaluate, and every metric named by a
panel or a rule must be one the services export: when a service's metrics change,
this test names the panel or rule to update.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml
from collections_core.auth import mint_token
from collections_core.clock import FileClock
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import accounts_pb2, business_days_pb2, customers_pb2, statements_pb2
from collections_core.money import Money
from collections_core.wire import date_to_proto
from deploy_files import (
    DEPLOY,
    ROOT,
    SCRAPE_SERIES,
    SERVICES,
    dashboard_expressions,
    exported_names,
    metric_names,
    rule_expressions,
    tool,
    with_grafana_variables,
)
from support import ServiceProcess, encode, free_port, payment, produce

pytestmark = pytest.mark.integration


class SmsProvider:
    """Accepts every message, as a provider's sandbox does."""

    def __init__(self) -> None:
        class Accept(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                body = json.dumps({"id": f"msg-{uuid.uuid4().hex[:8]}"}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait_for(probe, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen in {timeout}s")


def sample_sum(process: ServiceProcess, name: str, *labels: str) -> float:
    try:
        page = httpx.get(f"{process.url}/metrics", timeout=10).text
    except httpx.TransportError:  # a busy machine: the next poll asks again
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(name + "{") and all(label in line for label in labels))


def account_known(detector: ServiceProcess, account: str, token: str) -> bool:
    try:
        return httpx.get(f"{detector.url}/v1/accounts/{account}", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).status_code == 200
    except httpx.TransportError:
        return False


async def walk_one_customer(bootstrap: str, services: dict[str, ServiceProcess], token: str) -> None:
    run = uuid.uuid4().hex[:8]
    account, customer = f"ACC-{run}", f"CUS-{run}"
    await produce(bootstrap, "corebanking.customers.v1", [encode(customers_pb2.CustomerUpserted(
        customer_id=customer, name="Han Meimei", phone="+8613900139000", time_zone="Asia/Shanghai",
        language="zh-CN"), customer)])
    await produce(bootstrap, "corebanking.accounts.v1", [encode(accounts_pb2.AccountOpened(
        account_id=account, customer_id=customer, currency="CNY", credit_limit=Money(5_000_000, "CNY").to_proto(),
        opened_on=date_to_proto(date(2026, 1, 5))), account)])
    detector, router = services["overdue-detector"], services["case-router"]
    # Accounts and statements are separate topics: a statement read first would be rejected.
    wait_for(lambda: account_known(detector, account, token), "account opened")
    await produce(bootstrap, "corebanking.statements.v1", [encode(statements_pb2.StatementIssued(
        account_id=account, statement_id=f"ST-{run}", cycle_date=date_to_proto(date(2026, 10, 1)),
        due_date=date_to_proto(date(2026, 10, 25)), statement_balance=Money(1_000_000, "CNY").to_proto(),
        minimum_due=Money(50_000, "CNY").to_proto()), account)])
    wait_for(lambda: sample_sum(detector, "cc_events_consumed_total", "StatementIssued"), "statement applied")
    await produce(bootstrap, "corebanking.business-days.v1", [encode(
        business_days_pb2.BusinessDayClosed(business_date=date_to_proto(date(2026, 10, 29))), "business-day")])
    # This run's own notifier: a ContactSent on the shared topic may be an earlier test's.
    notifier = services["notifier"]
    wait_for(lambda: sample_sum(notifier, "notifier_contacts_total", 'outcome="sent"'), "SMS sent")
    wait_for(lambda: sample_sum(router, "cc_events_consumed_total", "ContactSent"), "SMS sent and recorded")
    await produce(bootstrap, "corebanking.payments.v1", [encode(payment(account, f"PAY-{run}", 50_000,
                                                                        on=date(2026, 10, 30)), account)])
    wait_for(lambda: sample_sum(detector, "detector_events_emitted_total", "AccountCured"), "account cured")
    await produce(bootstrap, "collections.placements.v1", [encode(placements_pb2.PlacementRequested(
        placement_id=f"PL-{run}", case_id=f"CASE-{run}", account_id=account, customer_id=customer,
        kind=placements_pb2.PLACEMENT_KIND_AGENCY, amount=Money(50_000, "CNY").to_proto(), dpd=95,
        region="CN-31"), account)])
    gateway = services["agency-gateway"]
    wait_for(lambda: sample_sum(gateway, "cc_events_consumed_total", "PlacementRequested"), "placement received")
    # Paid while the partner holds the case: the recoveries panel's money.
    await produce(bootstrap, "corebanking.payments.v1", [encode(payment(account, f"PAY-{run}-2", 20_000,
                                                                        on=date(2026, 10, 31)), account)])
    wait_for(lambda: sample_sum(gateway, "gateway_recovered_minor_total", "CNY"), "payment attributed")


def prometheus_config(tmp_path, services: dict[str, ServiceProcess]):
    """The project's prometheus.yml with each job's target on 127.0.0.1 and the repo's
    rules; scraping and evaluating every second so that rates exist within seconds."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules" / "*.yml")]
    assert {job["job_name"] for job in config["scrape_configs"]} == set(services)
    for job in config["scrape_configs"]:
        [target] = job["static_configs"]
        assert target["targets"] == [f"{job['job_name']}:{SERVICES[job['job_name']][2]}"]
        target["targets"] = [f"127.0.0.1:{services[job['job_name']].http_port}"]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def platform(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scrape")
    provider = SmsProvider()
    run = uuid.uuid4().hex[:8]
    secret = secrets.token_urlsafe(32)
    # The services follow a simulated clock at mid-morning in Shanghai on the day the
    # account goes past due, so the SMS is inside the contact policy's hours whenever
    # the test runs.
    clock = tmp / "clock"
    FileClock.write(clock, datetime.fromisoformat("2026-10-29T10:00:00+08:00"))
    services = {}
    for name, (module, prefix, _) in SERVICES.items():
        env = {f"{prefix}_DATABASE_URL": f"sqlite:///{tmp / name}.db", f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
               f"{prefix}_HTTP_PORT": str(free_port()), f"{prefix}_CONSUMER_GROUP": f"{name}-{run}",
               f"{prefix}_RELAY_POLL_INTERVAL_SECONDS": "0.1", f"{prefix}_AUTH_JWT_SECRET": secret,
               f"{prefix}_CLOCK_FILE": str(clock), "NOTIFIER_SMS_PROVIDER_URL": provider.url,
               "GATEWAY_PARTNER_SEED_FILE": str(ROOT / "services" / "agency-gateway" / "partners.example.yaml")}
        services[name] = ServiceProcess([sys.executable, "-m", module], env, tmp / f"{name}.log",
                                        http_port=int(env[f"{prefix}_HTTP_PORT"]))
    prometheus = None
    try:
        for process in services.values():
            process.start()
        for process in services.values():
            process.wait_healthy(timeout=180)
        port = free_port()
        prometheus = subprocess.Popen(
            [tool("prometheus"), f"--config.file={prometheus_config(tmp, services)}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=open(tmp / "prometheus.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        # Prometheus starts while the customer walks through: it scrapes from the first step.
        token = mint_token(secret, "sre", ["operations", "supervisor", "agent"])
        asyncio.run(walk_one_customer(kafka.bootstrap, services, token))
        wait_for(lambda: prometheus_ready(f"http://127.0.0.1:{port}"), "Prometheus ready", timeout=120)
        yield services, f"http://127.0.0.1:{port}"
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        for process in services.values():
            process.stop()
        provider.server.shutdown()


def prometheus_ready(prometheus: str) -> bool:
    try:
        return httpx.get(f"{prometheus}/-/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def query(prometheus: str, promql: str) -> list:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert response["status"] == "success", (promql, response)
    return response["data"]["result"]


def test_every_dashboard_panel_query_returns_series(platform):
    services, prometheus = platform
    wait_for(lambda: all(t["health"] == "up" for t in httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
                         .json()["data"]["activeTargets"]) and query(prometheus, "count(up) == 4"), "four targets up")
    expressions = dashboard_expressions()
    empty = expressions
    deadline = time.monotonic() + 120
    while empty and time.monotonic() < deadline:
        time.sleep(1)  # rates need two scrapes
        empty = [e for e in empty if not query(prometheus, with_grafana_variables(e.promql))]
    assert not empty, "panels without series:\n" + "\n".join(f"{e.where}: {e.promql}" for e in empty)


def test_every_alert_rule_evaluates_without_error(platform):
    _, prometheus = platform

    def evaluated():
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(r["lastEvaluation"] > "2000" for r in rules) else None

    rules = wait_for(evaluated, "every rule evaluated once")
    assert {r["name"] for r in rules} == {e.where.split(": ")[1] for e in rule_expressions()}
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


def test_dashboards_and_rules_name_only_metrics_the_services_export(platform):
    services, _ = platform
    exported = set(SCRAPE_SERIES)
    for process in services.values():
        exported |= exported_names(httpx.get(f"{process.url}/metrics", timeout=5).text)
    unknown = [f"{e.where}: {sorted(metric_names(e.promql) - exported)}"
               for e in dashboard_expressions() + rule_expressions() if metric_names(e.promql) - exported]
    assert not unknown, "metrics no running service exports:\n" + "\n".join(unknown)
