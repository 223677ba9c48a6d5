"""Agent productivity over HTTP on SQLite and PostgreSQL: calls, right-party contacts
and promises per agent, for supervisors only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from router_harness import token

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 10)


async def test_calls_contacts_and_promises_are_counted_per_agent(router):
    router.clock.set(datetime(DAY.year, DAY.month, DAY.day, 1, tzinfo=UTC))
    account = router.account()
    await router.day(account, DAY, 8)
    await router.settle()
    async with router.http() as http:
        case = (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()
        url = f"/v1/cases/{case['case_id']}"
        for n, (agent, outcome) in enumerate([("agent-1", "no-answer"), ("agent-1", "right-party-contact"),
                                              ("agent-2", "no-answer")]):
            answer = await http.post(f"{url}/call-outcomes", json={"outcome": outcome},
                                     headers={**token(agent), "Idempotency-Key": f"productivity-call-{n}"})
            assert answer.status_code == 200, answer.text
        promise = await http.post(f"{url}/promises", json={"amount_minor": 20_000,
                                                           "due_on": (DAY + timedelta(days=5)).isoformat()},
                                  headers={**token("agent-1"), "Idempotency-Key": "productivity-promise"})
        assert promise.status_code == 201, promise.text
        by_agent = await http.get("/v1/reports/agent-productivity", headers=token())
        report = await http.get("/v1/reports/agent-productivity", headers=token("sup-1", ("supervisor",)))
    assert by_agent.status_code == 403
    assert report.json()["agents"] == [
        {"agent": "agent-1", "calls": 2, "right_party_contacts": 1, "promises": 1, "kept": 0},
        {"agent": "agent-2", "calls": 1, "right_party_contacts": 0, "promises": 0, "kept": 0},
    ]
