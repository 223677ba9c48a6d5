"""A small demo run through the real platform: Kafka, the four services as processes,
SQLite; the report's figures must agree with what the services' APIs say."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from card_simulator.report import write_report
from card_simulator.run import portfolio_buckets, simulate
from collections_core.auth import mint_token
from collections_core.clock import FileClock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from local_platform import SERVICES, Platform  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def platform(kafka, tmp_path):
    from datetime import UTC, datetime

    clock = tmp_path / "clock"
    FileClock.write(clock, datetime(2027, 1, 3, tzinfo=UTC))
    running = Platform(tmp_path, ports={name: _free_port() for name in SERVICES}, broker=kafka,
                       extra_env={"CLOCK_FILE": str(clock), "LOG_LEVEL": "WARNING"})
    try:
        running.start()
        yield running, clock
    finally:
        running.stop()


async def test_a_small_demo_run_reports_what_the_services_report(platform, tmp_path):
    running, clock = platform
    result = await simulate(bootstrap=running.broker.bootstrap, detector_url=running.url("overdue-detector"),
                            jwt_secret=running.jwt_secret(), clock_file=clock, accounts=80, days=36, seed=4,
                            progress=False)

    assert len(result.days_run) == 36
    last = result.days_run[-1]
    assert sum(last.bank_buckets.values()) > 0, "the seed must make some accounts delinquent within 36 days"
    assert result.mismatched_days == [], "the detector's buckets equal the bank's own book every day"

    token = mint_token(running.jwt_secret(), "auditor", ["operations"])
    portfolio = httpx.get(f"{running.url('overdue-detector')}/v1/portfolio",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert portfolio["business_date"] == last.business_date.isoformat()
    assert {b: n for b, n in portfolio_buckets(portfolio).items() if n and b != "M0"} == last.platform_buckets

    out = tmp_path / "report.html"
    summary = write_report(result, out)
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html and "http" not in html.replace("http-equiv", ""), "self-contained: no links out"
    for bucket, count in last.platform_buckets.items():
        assert f"<td>{bucket}</td><td>{count}</td>" in html
    assert f"{len(result.days_run)}/{len(result.days_run)} days agree" in summary
