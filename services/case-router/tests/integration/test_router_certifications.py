"""Certification records over HTTP on SQLite and PostgreSQL: supervisors keep them,
and a lapsed agent is refused new work with a problem that says why."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from router_harness import token

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 10)  # DPD 8: the early stage creates a call task in queue "early"
SUPERVISOR = ("sup-1", ("supervisor",))


async def _waiting_call_task(router) -> None:
    router.clock.set(datetime(DAY.year, DAY.month, DAY.day, 1, tzinfo=UTC))
    await router.day(router.account(), DAY, 8)
    await router.settle()


async def test_a_lapsed_agent_is_refused_work_until_a_supervisor_records_the_renewal(router):
    await _waiting_call_task(router)
    lapsed = {"passed_on": "2025-11-10", "valid_for_days": 365}  # expires on DAY
    async with router.http() as http:
        by_agent = await http.put("/v1/agents/agent-7/certifications/conduct", json=lapsed,
                                  headers={**token("agent-7"), "Idempotency-Key": "cert-by-agent"})
        recorded = await http.put("/v1/agents/agent-7/certifications/conduct", json=lapsed,
                                  headers={**token(*SUPERVISOR), "Idempotency-Key": "cert-lapsed"})
        refused = await http.post("/v1/queues/early/claims",
                                  headers={**token("agent-7"), "Idempotency-Key": "claim-lapsed"})
        own = await http.get("/v1/agents/agent-7/certifications", headers=token("agent-7"))
        others = await http.get("/v1/agents/agent-7/certifications", headers=token("agent-8"))
        renewed = await http.put("/v1/agents/agent-7/certifications/conduct",
                                 json={"passed_on": DAY.isoformat(), "valid_for_days": 365},
                                 headers={**token(*SUPERVISOR), "Idempotency-Key": "cert-renewed"})
        claimed = await http.post("/v1/queues/early/claims",
                                  headers={**token("agent-7"), "Idempotency-Key": "claim-renewed"})
        listed = await http.get("/v1/certifications", headers=token(*SUPERVISOR))
    assert (by_agent.status_code, recorded.status_code, others.status_code) == (403, 200, 403)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["title"] == "Certification lapsed"
    assert (problem["course"], problem["expired_on"]) == ("conduct", DAY.isoformat())
    assert own.json()["lapsed"] is True
    assert renewed.status_code == 200 and renewed.json()["recorded_by"] == "sup-1"
    assert claimed.status_code == 201, claimed.text
    assert [(c["agent_id"], c["expires_on"]) for c in listed.json()] == [("agent-7", "2027-11-10")]
    assert own.json()["certifications"][0]["expires_on"] == DAY.isoformat()


async def test_an_agent_without_records_and_bad_records_are_answered_plainly(router):
    await _waiting_call_task(router)
    async with router.http() as http:
        backwards = await http.put("/v1/agents/agent-9/certifications/conduct",
                                   json={"passed_on": "2026-11-10", "valid_for_days": 0},
                                   headers={**token(*SUPERVISOR), "Idempotency-Key": "cert-backwards"})
        last_years = await http.put("/v1/agents/agent-10/certifications/conduct",
                                    json={"passed_on": "9999-06-01", "valid_for_days": 3660},
                                    headers={**token(*SUPERVISOR), "Idempotency-Key": "cert-last-years"})
        claimed = await http.post("/v1/queues/early/claims",
                                  headers={**token("agent-9"), "Idempotency-Key": "claim-unrecorded"})
    assert backwards.status_code == 422
    assert last_years.status_code == 200 and last_years.json()["expires_on"] == "9999-12-31"
    assert claimed.status_code == 201, "an agent with no record yet is not judged by the gate"
