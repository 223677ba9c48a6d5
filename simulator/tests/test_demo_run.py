"""A small demo run through the real platform: Kafka, the four services and the notifier's
stand-ins as processes, SQLite; customers react to what reached them, agents work the desk.
The report's figures must agree with what the services' APIs say, and the compliance audit
must find nothing.

The portfolio starts with 120 days of history (decision 0102): 18 of its 80 accounts are
already 5 to 91 days past due on the first day, so ten business days reach every stage up to
an agency placement, where a run without history needs five weeks to open its first cases."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from card_simulator.agencies import PARTNERS, SCOPES, write_seed
from card_simulator.observe import by_labels, parse_metrics
from card_simulator.report import cross_checks, write_report
from card_simulator.run import portfolio_buckets, simulate
from collections_core.auth import mint_token
from collections_core.clock import FileClock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from local_platform import SERVICES, Platform  # noqa: E402


# About a minute on an idle machine; several times that when the machine is shared.
pytestmark = pytest.mark.timeout(900)

ACCOUNTS, DAYS, SEED, HISTORY_DAYS = 80, 10, 4, 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def platform(kafka, tmp_path):
    from datetime import UTC, datetime

    clock = tmp_path / "clock"
    FileClock.write(clock, datetime(2027, 1, 3, tzinfo=UTC))
    partners = write_seed(tmp_path / "partners.yaml")
    running = Platform(tmp_path, ports={name: _free_port() for name in SERVICES}, broker=kafka,
                       extra_env={"CLOCK_FILE": str(clock), "LOG_LEVEL": "WARNING",
                                  "PARTNER_SEED_FILE": str(partners)},
                       standin_ports={name: _free_port() for name in ("sms", "smtp", "print")})
    try:
        running.start()
        yield running, clock
    finally:
        running.stop()


async def test_a_small_demo_run_reports_what_the_services_report(platform, tmp_path):
    running, clock = platform
    result = await simulate(running, clock_file=clock, accounts=ACCOUNTS, days=DAYS, seed=SEED, progress=False,
                            history_days=HISTORY_DAYS)

    assert len(result.days_run) == DAYS
    last = result.days_run[-1]
    assert sum(last.bank_buckets.values()) > 0, "the seed leaves some accounts delinquent"
    assert result.mismatched_days == [], "the detector's buckets equal the bank's own book every day"

    token = mint_token(running.jwt_secret(), "auditor", ["operations"])
    portfolio = httpx.get(f"{running.url('overdue-detector')}/v1/portfolio",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert portfolio["business_date"] == last.business_date.isoformat()
    assert {b: n for b, n in portfolio_buckets(portfolio).items() if n and b != "M0"} == last.platform_buckets

    figures = result.platform
    assert sum(result.delivered.values()) > 0, "contacts reach the stand-ins the platform started"
    assert result.stop_replies > 0, "the seed draws opt-out customers who reply STOP"
    permitted_calls = result.desk.permits.get("allow", 0) + sum(p.permits.get("allow", 0)
                                                                for p in result.agencies.values())
    assert result.desk.calls, "the bank's agents worked the desk queues and made calls"
    assert figures.audited_contacts == sum(result.delivered.values()) + permitted_calls
    assert figures.violations == [], "a clean run breaks no contact rule"
    assert [c for c in cross_checks(result) if not c[3]] == [], "what the simulator saw is what the platform says"

    reader = {"Authorization": f"Bearer {mint_token(running.jwt_secret(), 'auditor', ['operations', 'compliance'])}"}
    cures = httpx.get(f"{running.url('case-router')}/v1/reports/cure-rates", headers=reader, timeout=10).json()
    assert cures == figures.cure_rates and cures["variants"], "cases were worked and closed"
    metrics = parse_metrics(httpx.get(f"{running.url('notifier')}/metrics", timeout=10).text)
    assert {k: int(v) for k, v in by_labels(metrics, "notifier_contacts_total", "channel", "outcome").items()
            if v} == figures.contacts

    law_firm = next(p for p in PARTNERS if p.kind == "legal")
    gateway = running.url("agency-gateway")
    token = httpx.post(f"{gateway}/oauth/token", auth=(law_firm.partner_id, law_firm.client_secret),
                       data={"grant_type": "client_credentials", "scope": SCOPES}, timeout=10).json()["access_token"]
    listed = httpx.get(f"{gateway}/v1/placements", params={"limit": 200},
                       headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["placements"]
    ours = {f"A{n:07d}" for n in range(1, ACCOUNTS + 1)}
    assert figures.placements_listed.get("legal", 0) == sum(p["account_id"] in ours for p in listed)
    assert figures.placements_listed.get("agency", 0) > 0, "the history brings accounts to the agency stage"

    out = tmp_path / "report.html"
    summary = write_report(result, out)
    assert (f"placements with agencies: {figures.placements_listed.get('agency', 0)} (the router requested "
            f"{figures.placements_requested.get('agency', 0)}); legal referrals to the law firm: "
            f"{figures.placements_listed.get('legal', 0)}") in summary
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html and "http" not in html.replace("http-equiv", ""), "self-contained: no links out"
    for bucket, count in last.platform_buckets.items():
        assert f"<td>{bucket}</td><td>{count}</td>" in html
    assert f"{len(result.days_run)}/{len(result.days_run)} days agree" in summary
    assert f"{figures.audited_contacts} contacts checked, 0 violations" in summary
    for kind in ("agency", "legal"):
        assert (f"<td>{kind}</td><td>{figures.placements_listed.get(kind, 0)}</td>"
                f"<td>{figures.placements_requested.get(kind, 0)}</td>") in html
    for (channel, outcome), count in figures.contacts.items():
        assert f"<td>{channel}</td><td>{outcome}</td><td>{count}</td>" in html
    for variant, stages in cures["variants"].items():
        for stage, n in stages.items():
            assert f"<td>{variant}</td><td>{stage}</td><td>{n['cases']}</td><td>{n['cured']}</td>" in html
