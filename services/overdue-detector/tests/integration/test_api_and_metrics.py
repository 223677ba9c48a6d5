"""The detector's HTTP API and metrics over a real ledger (broker in, database behind)."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

pytestmark = pytest.mark.integration

MINIMUM = 50_000


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, {"service": "overdue-detector", **labels}) or 0.0


async def test_account_portfolio_and_aging_runs(detector):
    late, current = detector.account("LATE"), detector.account("OK")
    for account in (late, current):
        await detector.open(account)
        await detector.statement(account, f"ST-{account}", date(2026, 10, 1), date(2026, 10, 25), MINIMUM)
    await detector.pay(late, f"P-{late}", 20_000, date(2026, 10, 20))
    await detector.pay(current, f"P-{current}", MINIMUM, date(2026, 10, 24))
    await detector.settle()
    async with detector.http() as client:
        emitted_before = sample("detector_events_emitted_total", type="collections.v1.DelinquencyUpdated")
        runs_before = sample("detector_aging_run_duration_seconds_count")
        await detector.close(date(2026, 10, 29))
        await detector.settle()
        assert sample("detector_events_emitted_total", type="collections.v1.DelinquencyUpdated") == emitted_before + 1
        assert sample("detector_aging_run_duration_seconds_count") == runs_before + 1
        assert sample("detector_accounts", bucket="M1") == 1 and sample("detector_accounts", bucket="M0") == 1
        assert sample("detector_past_due_minor", bucket="M1", currency="CNY") == 30_000

        body = (await client.get(f"/v1/accounts/{late}")).json()
        assert body["currency"] == "CNY" and body["status"] == "open"
        assert [s["statement_id"] for s in body["statements"]] == [f"ST-{late}"]
        assert body["payments"][0]["amount"] == {"amount_minor": 20_000, "currency": "CNY"}
        assert body["past_due_cycles"] == [{"statement_id": f"ST-{late}", "due_date": "2026-10-25",
                                            "unpaid": {"amount_minor": 30_000, "currency": "CNY"}}]
        delinquency = body["delinquency"]
        assert (delinquency["as_of"], delinquency["dpd"], delinquency["bucket"], delinquency["past_due_amount"],
                delinquency["episode_open"]) == ("2026-10-29", 4, "M1", {"amount_minor": 30_000, "currency": "CNY"},
                                                 True)
        assert (await client.get(f"/v1/accounts/{current}")).json()["delinquency"] is None

        missing = await client.get(f"/v1/accounts/NO-{detector.run}")
        assert missing.status_code == 404 and missing.json()["status"] == 404

        portfolio = (await client.get("/v1/portfolio")).json()
        buckets = {b["bucket"]: b for b in portfolio["buckets"]}
        assert portfolio["business_date"] == "2026-10-29"
        assert buckets["M1"]["accounts"] == 1 and buckets["M1"]["past_due"] == [
            {"amount_minor": 30_000, "currency": "CNY"}]
        assert buckets["M0"]["accounts"] == 1 and buckets["M2"]["accounts"] == 0

        # Re-running an aged day is idempotent: nothing new is emitted.
        rerun = await client.post("/v1/aging-runs", json={"business_date": "2026-10-29"})
        assert rerun.status_code == 200 and rerun.json()["aged"] and rerun.json()["events_emitted"] == 2
        assert (await client.post("/v1/aging-runs", json={"business_date": "2026-10-28"})).status_code == 409
        malformed = await client.post("/v1/aging-runs", json={"business_date": "29/10/2026"})
        assert malformed.status_code == 422 and malformed.headers["content-type"] == "application/problem+json"
    events = await detector.events(late)
    assert [kind for kind, _ in events] == ["AccountBecameDelinquent", "DelinquencyUpdated"]


async def test_the_api_needs_a_token_and_aging_runs_need_operations(detector):
    account = detector.account()
    await detector.open(account)
    await detector.settle()
    async with detector.http(role=None) as anonymous:
        for response in (await anonymous.get(f"/v1/accounts/{account}"), await anonymous.get("/v1/portfolio"),
                         await anonymous.post("/v1/aging-runs", json={"business_date": "2026-10-29"})):
            assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"] == "application/problem+json"
    for role in ("agent", "supervisor", "compliance", "operations"):
        async with detector.http(role=role) as client:
            assert (await client.get(f"/v1/accounts/{account}")).status_code == 200, role
            assert (await client.get("/v1/portfolio")).status_code == 200, role
    async with detector.http(role="agent") as agent:
        refused = await agent.post("/v1/aging-runs", json={"business_date": "2026-10-29"})
        assert refused.status_code == 403 and refused.json()["status"] == 403
    async with detector.http(role="collections-analyst") as stranger:
        assert (await stranger.get("/v1/portfolio")).status_code == 403
    async with detector.runtime.database.engine.connect() as connection:
        assert (await connection.execute(text("SELECT COUNT(*) FROM closed_days"))).scalar() == 0, \
            "a refused aging run queued nothing"
