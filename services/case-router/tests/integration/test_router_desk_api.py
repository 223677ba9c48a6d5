"""The agent desk over HTTP on SQLite and PostgreSQL: who may call what, exclusive
leases that expire, idempotent writes, and bad input answered with problems."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from case_router.tables import promises
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.wire import date_to_proto
from router_harness import token

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 10)  # DPD 8: the early stage creates a call task in queue "early"


def _open_desk(router) -> None:
    """The desk works on the business day: tasks due on DAY are claimable from DAY on."""
    if router.clock.now().date() < DAY:
        router.clock.set(datetime(DAY.year, DAY.month, DAY.day, 1, tzinfo=UTC))


async def _case(router, account: str, dpd: int = 8) -> dict:
    _open_desk(router)
    await router.day(account, DAY, dpd)
    await router.settle()
    async with router.http() as http:
        return (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()


@pytest.mark.parametrize(("name", "headers", "status"), [
    ("no token", {}, 401),
    ("expired", token(ttl_seconds=60, now=time.time() - 3600), 401),
    ("wrong audience", token(audience="another-bank"), 401),
    ("bad signature", {"Authorization": "Bearer " + "x.y.z"}, 401),
    ("compliance may not work cases", token(roles=("compliance",)), 403),
    ("agent", token(roles=("agent",)), 200),
    ("supervisor", token(roles=("supervisor",)), 200),
])
async def test_who_may_read_a_case(router, name, headers, status):
    case = await _case(router, router.account())
    async with router.http() as http:
        response = await http.get(f"/v1/cases/{case['case_id']}", headers=headers)
    assert response.status_code == status, name
    if status == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_stage_override_needs_a_supervisor_and_a_reason_and_is_audited(router):
    case = await _case(router, router.account())
    url = f"/v1/cases/{case['case_id']}/stage"
    body = {"stage": "letter", "reason": "customer asked for written contact"}
    async with router.http() as http:
        agent = await http.post(url, json=body, headers={**token(), "Idempotency-Key": "override-1"})
        no_reason = await http.post(url, json={"stage": "letter"},
                                    headers={**token("sup-1", ("supervisor",)), "Idempotency-Key": "override-2"})
        done = await http.post(url, json=body, headers={**token("sup-1", ("supervisor",)), "Idempotency-Key": "override-3"})
        view = (await http.get(f"/v1/cases/{case['case_id']}", headers=token())).json()
    assert (agent.status_code, no_reason.status_code, done.status_code) == (403, 422, 200)
    audit = [e for e in view["timeline"] if e["entry"] == "stage-overridden"]
    assert view["stage"] == "letter" and audit[0]["actor"] == "sup-1" and "written contact" in audit[0]["detail"]
    assert audit[0]["rule"] == "override.supervisor"
    changes = [m for k, m in await router.events(case["account_id"]) if k == "StageChanged"]
    assert changes[-1].rule == "override.supervisor"


async def test_a_lease_that_expires_returns_the_task_to_the_queue(router):
    await _case(router, router.account())
    async with router.http() as http:
        first = await http.post("/v1/queues/early/claims", headers={**token("agent-1"), "Idempotency-Key": "claim-a1"})
        assert first.status_code == 201, first.text
        empty = await http.post("/v1/queues/early/claims", headers={**token("agent-2"), "Idempotency-Key": "claim-a2"})
        assert empty.status_code == 404, "the only task is leased"
        router.clock.advance(timedelta(seconds=901))
        second = await http.post("/v1/queues/early/claims", headers={**token("agent-2"), "Idempotency-Key": "claim-a3"})
        late = await http.post(f"/v1/tasks/{first.json()['task_id']}/outcome", json={"outcome": "no-answer"},
                               headers={**token("agent-1"), "Idempotency-Key": "late-finish"})
        finished = await http.post(f"/v1/tasks/{second.json()['task_id']}/outcome",
                                   json={"outcome": "right-party-contact"},
                                   headers={**token("agent-2"), "Idempotency-Key": "finish-2"})
    assert second.status_code == 201 and second.json()["task_id"] == first.json()["task_id"]
    assert late.status_code == 409, "an expired lease no longer lets its agent finish the task"
    assert finished.status_code == 200


async def test_a_task_cancelled_with_its_case_says_so_to_the_agent_who_held_it(router):
    case = await _case(router, router.account())
    async with router.http() as http:
        claimed = await http.post("/v1/queues/early/claims", headers={**token("agent-1"), "Idempotency-Key": "claim-c1"})
        assert claimed.status_code == 201, claimed.text
        # The customer pays while the agent is on the call: the cure closes the case.
        await router.send("collections.delinquency.v1", delinquency_pb2.AccountCured(
            account_id=case["account_id"], customer_id=f"C-{case['account_id']}",
            business_date=date_to_proto(DAY + timedelta(days=1))), case["account_id"])
        await router.settle()
        finished = await http.post(f"/v1/tasks/{claimed.json()['task_id']}/outcome", json={"outcome": "no-answer"},
                                   headers={**token("agent-1"), "Idempotency-Key": "finish-c1"})
    assert finished.status_code == 409
    assert finished.headers["content-type"] == "application/problem+json"
    problem = finished.json()
    assert problem["type"] == "urn:card-collections:problem:task-cancelled"
    assert (problem["case_id"], problem["case_status"]) == (case["case_id"], "closed")
    assert "closed (cured)" in problem["detail"]


async def test_two_agents_claiming_at_once_never_get_the_same_task(router):
    _open_desk(router)
    for n in range(3):
        await router.day(router.account(f"Q{n}"), DAY, 8)
    await router.settle()
    async with router.http() as http:
        answers = await asyncio.gather(*[
            http.post("/v1/queues/early/claims", headers={**token(f"agent-{n}"), "Idempotency-Key": f"race-claim-{n}"})
            for n in range(5)])
        queues = (await http.get("/v1/queues", headers=token())).json()
    claimed = [a.json()["task_id"] for a in answers if a.status_code == 201]
    assert len(claimed) == 3 and len(set(claimed)) == 3
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 404, 404]
    assert {"queue": "early", "waiting": 3, "claimable": 0, "oldest_due_on": DAY.isoformat()} in queues


async def test_writes_are_idempotent_under_their_key(router):
    case = await _case(router, router.account())
    url = f"/v1/cases/{case['case_id']}/promises"
    body = {"amount_minor": 30_000, "due_on": (DAY + timedelta(days=7)).isoformat()}
    headers = {**token(), "Idempotency-Key": "promise-key-1"}
    async with router.http() as http:
        first = await http.post(url, json=body, headers=headers)
        again = await http.post(url, json=body, headers=headers)
        other = await http.post(url, json={**body, "amount_minor": 1}, headers=headers)
        missing = await http.post(url, json=body, headers=token())
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409 and missing.status_code == 422
    async with router.runtime.database.reading() as connection:
        assert (await connection.execute(select(func.count()).select_from(promises))).scalar() == 1


@pytest.mark.parametrize(("path", "body"), [
    ("promises", {"amount_minor": -5, "due_on": "2026-11-20"}),
    ("promises", {"amount_minor": 100, "due_on": "2026-10-01"}),       # before it was made
    ("promises", {"amount_minor": 100, "due_on": "2027-06-01"}),       # beyond the strategy's 30 days
    ("promises", {"amount_minor": 100, "due_on": "not a date"}),
    ("plans", {"kind": "instalments", "total_minor": 100}),
    ("plans", {"kind": "instalments", "instalments": [{"due_on": "2026-12-01", "amount_minor": 5},
                                                      {"due_on": "2026-11-30", "amount_minor": 5}]}),
    ("call-outcomes", {"outcome": "threatened"}),
    ("notes", {"text": ""}),
    ("disputes", {"reason": "x", "extra": 1}),
])
async def test_bad_input_is_a_problem_and_writes_nothing(router, path, body):
    case = await _case(router, router.account())
    async with router.http() as http:
        response = await http.post(f"/v1/cases/{case['case_id']}/{path}", json=body,
                                   headers={**token(), "Idempotency-Key": f"bad-{path}-input"})
        after = (await http.get(f"/v1/cases/{case['case_id']}", headers=token())).json()
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert after["timeline"] == case["timeline"] and after["holds"] == [] and after["promises"] == []


async def test_credit_file_and_reports(router):
    account = router.account()
    await router.day(account, DAY, 8)
    await router.day(account, DAY + timedelta(days=30), 38)
    await router.settle()
    async with router.http() as http:
        rolls = await http.get("/v1/reports/roll-rates", params={"from": DAY.isoformat(),
                                                                  "to": (DAY + timedelta(days=30)).isoformat()},
                               headers=token())
        cures = await http.get("/v1/reports/cure-rates", headers=token("sup", ("supervisor",)))
        credit = await http.get(f"/v1/customers/C-{account}/credit-file", headers=token("c", ("compliance",)))
        metrics = await http.get("/metrics")
    assert rolls.json()["variants"]["champion"]["M1"] == {"accounts": 1, "to": {"M2": 1.0}}
    assert cures.json()["variants"]["champion"]["letter"]["cases"] == 1
    assert credit.status_code == 200 and credit.json()["entries"] == []
    assert 'router_decisions_total{rule="letter.31-90",variant="champion"}' in metrics.text
