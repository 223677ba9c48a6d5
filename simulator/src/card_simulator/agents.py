"""The bank's agents working the desk queues (case-router's agent-desk API), asking the
notifier for a call permit before every call, and what the customer says when the call
connects (by segment: promises kept or broken, hardship and a plan, a dispute).

``conversation`` is pure; ``Desk`` does the HTTP.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

from card_simulator.bank import CoreBanking
from card_simulator.population import Account, Segment

PROMISE_IN_DAYS = 7
PLAN_INSTALMENTS = 3


@dataclass(frozen=True, slots=True)
class Talk:
    """What a call comes to: the notifier's outcome, the desk's outcome, and what the
    customer agreed to (``promise`` / ``hardship`` / ``dispute``) if anything."""

    permit_outcome: str  # no-answer | connected | conversation
    task_outcome: str  # no-answer | right-party-contact | refused
    agreed: str = ""


def _draw(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode()) % 100


def conversation(account: Account, seed: int, day: date) -> Talk:
    """A seeded answer to a call: the same seed, account and day always answer alike."""
    draw = _draw(seed, "call", account.account_id, day)
    unanswered = Talk("no-answer", "no-answer")
    match account.segment:
        case Segment.NEVER_PAYS:
            return unanswered if draw < 80 else Talk("connected", "refused")
        case Segment.PROMISES_KEPT | Segment.PROMISES_BROKEN:
            return Talk("conversation", "right-party-contact", "promise") if draw < 70 else unanswered
        case Segment.HARDSHIP:
            return Talk("conversation", "right-party-contact", "hardship") if draw < 70 else unanswered
        case Segment.DISPUTES:
            return Talk("conversation", "right-party-contact", "dispute") if draw < 70 else unanswered
    return Talk("conversation", "right-party-contact") if draw < 50 else unanswered


@dataclass(slots=True)
class DeskFigures:
    claimed: int = 0
    permits: dict[str, int] = field(default_factory=dict)  # decision → permits asked
    calls: dict[str, int] = field(default_factory=dict)  # permit outcome → calls made
    promises: int = 0
    plans: int = 0
    hardships: int = 0
    disputes: int = 0


class Desk:
    """``agents`` agents, each making at most ``calls_each`` calls per clock step."""

    def __init__(self, client: httpx.AsyncClient, router: str, notifier: str, bank: CoreBanking,
                 accounts: dict[str, Account], seed: int, agents: int = 4, calls_each: int = 10) -> None:
        self.client, self.router, self.notifier = client, router, notifier
        self.bank, self.accounts, self.seed = bank, accounts, seed
        self.capacity = agents * calls_each
        self.figures = DeskFigures()
        self._promised: set[str] = set()

    async def _post(self, url: str, body: dict, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post(url, json=body, headers=headers)

    async def work(self, day: date, step: str) -> int:
        """Work the queues until they are empty or the agents' calls run out; returns the tasks claimed."""
        queues = (await self.client.get(f"{self.router}/v1/queues")).json()
        budget = self.capacity
        for queue in sorted(q["queue"] for q in queues if q["claimable"]):
            attempt = 0
            while budget > 0:
                attempt += 1
                claimed = await self._post(f"{self.router}/v1/queues/{queue}/claims", {},
                                           f"claim-{day}-{step}-{queue}-{attempt}")
                if claimed.status_code == 404:
                    break
                claimed.raise_for_status()
                budget -= 1
                self.figures.claimed += 1
                await self._handle(claimed.json(), day, step)
        return self.capacity - budget

    async def _handle(self, task: dict, day: date, step: str) -> None:
        account = self.accounts.get(task["account_id"])
        if account is None:
            # A case this simulation did not make (another producer on the same topics, as
            # the tests' shared broker has): closed as done, nobody is called.
            return await self._finish(task, "done", step, "not an account of this simulation")
        if task["kind"] == "field-visit":
            return await self._finish(task, "visited", step)
        if task["kind"] != "call":
            return await self._finish(task, "done", step)
        permit = await self._post(f"{self.notifier}/v1/call-permits", {
            "permit_request_id": f"{task['task_id']}-{day}-{step}", "customer_id": account.customer_id,
            "account_id": account.account_id, "caller": {"kind": "bank-agent", "id": "desk-agent", "agency_id": None}})
        permit.raise_for_status()
        decision = permit.json()
        self.figures.permits[decision["decision"]] = self.figures.permits.get(decision["decision"], 0) + 1
        if decision["decision"] == "defer":
            return  # the lease runs out with the clock; the task is claimed again later
        if decision["decision"] == "block":
            return await self._finish(task, "done", step, f"not permitted: {decision['rule']}")
        talk = conversation(account, self.seed, day)
        self.figures.calls[talk.permit_outcome] = self.figures.calls.get(talk.permit_outcome, 0) + 1
        (await self._post(f"{self.notifier}/v1/call-outcomes",
                          {"permit_id": decision["permit_id"], "outcome": talk.permit_outcome})).raise_for_status()
        await self._agree(task["case_id"], account, talk.agreed, day)
        await self._finish(task, talk.task_outcome, step)

    async def _agree(self, case_id: str, account: Account, agreed: str, day: date) -> None:
        arrears = self.bank.arrears(account.account_id, day)
        case = f"{self.router}/v1/cases/{case_id}"
        if agreed == "promise" and arrears > 0 and account.account_id not in self._promised:
            due_on = day + timedelta(days=PROMISE_IN_DAYS)
            answer = await self._post(f"{case}/promises", {"amount_minor": arrears, "due_on": due_on.isoformat()},
                                      f"promise-{case_id}-{day}")
            if answer.status_code == 201:
                self._promised.add(account.account_id)
                self.bank.promise(account.account_id, due_on)
                self.figures.promises += 1
        elif agreed == "hardship" and arrears > 0:
            hardship = await self._post(f"{case}/hardship", {"reason": "lost income"}, f"hardship-{case_id}")
            if hardship.status_code == 201:
                self.figures.hardships += 1
                plan = await self._post(f"{case}/plans", {
                    "kind": "instalments", "total_minor": arrears, "count": PLAN_INSTALMENTS,
                    "first_due_on": (day + timedelta(days=14)).isoformat()}, f"plan-{case_id}")
                self.figures.plans += plan.status_code == 201
        elif agreed == "dispute":
            answer = await self._post(f"{case}/disputes", {"reason": "does not recognise a charge"},
                                      f"dispute-{case_id}")
            self.figures.disputes += answer.status_code == 201

    async def _finish(self, task: dict, outcome: str, step: str, note: str = "") -> None:
        answer = await self._post(f"{self.router}/v1/tasks/{task['task_id']}/outcome",
                                  {"outcome": outcome, "note": note}, f"finish-{task['task_id']}-{step}")
        answer.raise_for_status()
