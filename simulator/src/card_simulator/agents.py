"""The bank's agents working the desk queues (case-router's agent-desk API), asking the
notifier for a call permit before every call, and what the customer says when the call
connects (by segment: promises kept or broken, hardship and a plan, a dispute).

``conversation`` is pure; ``Desk`` does the HTTP.

A queue is worked as a team of agents works it: tasks are claimed one after the other
(the claims and Idempotency-Keys of one by one), then the claimed tasks are handled
``TASKS_IN_FLIGHT`` at a time, the tasks of one account one after the other in claim
order, before the next queue. The result is that of handling each task before claiming
the next (decision 0106): a customer has one card account, what the customer says depends
only on the seed, the account and the day, the notifier's call permit only on that
customer's own history, and the router's desk writes only on that case. The one write
that changes a queue, a hardship review the router adds, is waited for: a task whose
customer would ask for hardship ends the run of claims, so the next claim sees the review.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import count

import httpx

from card_simulator.bank import CoreBanking
from card_simulator.population import Account, Segment
from card_simulator.together import together

PROMISE_IN_DAYS = 7
PLAN_INSTALMENTS = 3
TASKS_IN_FLIGHT = 8  # claimed tasks of a queue handled at once: as many requests in flight
# What a customer agrees to that makes the router add a task to a queue (a hardship review).
ADDS_A_TASK = frozenset({"hardship"})
# The desk's answer to an outcome for a task that went with its case (the customer paid meanwhile).
TASK_CANCELLED = "urn:card-collections:problem:task-cancelled"


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
    """``agents`` agents, each making at most ``calls_each`` calls per clock step.
    ``in_flight``: how many claimed tasks are handled at once (1 handles each task before
    it claims the next, as the desk did before decision 0106)."""

    def __init__(self, client: httpx.AsyncClient, router: str, notifier: str, bank: CoreBanking,
                 accounts: dict[str, Account], seed: int, agents: int = 4, calls_each: int = 10,
                 in_flight: int = TASKS_IN_FLIGHT) -> None:
        if in_flight < 1:
            raise ValueError("at least one task must be in flight")
        self.client, self.router, self.notifier = client, router, notifier
        self.bank, self.accounts, self.seed = bank, accounts, seed
        self.capacity = agents * calls_each
        self.in_flight = in_flight
        self.figures = DeskFigures()
        self._promised: set[str] = set()

    async def _post(self, url: str, body: dict, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post(url, json=body, headers=headers)

    async def work(self, day: date, step: str) -> int:
        """Work the queues until they are empty or the agents' calls run out; returns the tasks claimed.

        Queue by queue in name order: a run of tasks is claimed, then handled side by side,
        until the queue answers 404 or the calls run out."""
        queues = (await self.client.get(f"{self.router}/v1/queues")).json()
        budget = self.capacity
        for queue in sorted(q["queue"] for q in queues if q["claimable"]):
            attempts = count(1)
            while budget > 0:
                claimed, emptied = await self._claim_run(queue, day, step, attempts, budget)
                budget -= len(claimed)
                await self._handle_side_by_side(claimed, day, step)
                if emptied:
                    break
        return self.capacity - budget

    async def _claim_run(self, queue: str, day: date, step: str, attempts: Iterator[int],
                         budget: int) -> tuple[list[dict], bool]:
        """Tasks claimed from ``queue`` one after the other, at most ``budget``, and whether
        the queue answered 404. The run ends early after a task whose handling may add a
        task to a queue (``_may_add_a_task``): the next claim must see it, as it would have
        had each task been handled before the next was claimed."""
        claimed: list[dict] = []
        while len(claimed) < budget:
            answer = await self._post(f"{self.router}/v1/queues/{queue}/claims", {},
                                      f"claim-{day}-{step}-{queue}-{next(attempts)}")
            if answer.status_code == 404:
                return claimed, True
            answer.raise_for_status()
            self.figures.claimed += 1
            claimed.append(answer.json())
            if self.in_flight == 1 or self._may_add_a_task(claimed[-1], day):
                break
        return claimed, False

    def _may_add_a_task(self, task: dict, day: date) -> bool:
        """Whether the customer would agree, if the call connects, to something for which
        the router adds a task (a hardship review, in its strategy's hardship queue)."""
        account = self.accounts.get(task["account_id"])
        return account is not None and task["kind"] == "call" and \
            conversation(account, self.seed, day).agreed in ADDS_A_TASK

    async def _handle_side_by_side(self, claimed: list[dict], day: date, step: str) -> None:
        """``in_flight`` agents take the claimed tasks account by account, in claim order;
        one agent handles an account's tasks (and so each case's) one after the other. The
        first request to fail cancels the others and is raised as itself."""
        by_account: dict[str, list[dict]] = {}
        for task in claimed:
            by_account.setdefault(task["account_id"], []).append(task)
        chains = iter(by_account.values())

        async def agent() -> None:
            for chain in chains:  # one iterator for all: each account's chain is taken once
                for task in chain:
                    await self._handle(task, day, step)

        await together(agent() for _ in range(min(self.in_flight, len(by_account))))

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
        if answer.status_code == 409 and answer.json().get("type") == TASK_CANCELLED:
            return  # the customer paid while the agent had the task: it went with the case, as the desk says
        answer.raise_for_status()
