"""What a customer says when an agent's call connects: by segment, and seeded. And the
bank's agents working the desk queues, many claimed tasks at once, with the result of
handling them one by one.

The tests of the desk's work run the real case-router and the real notifier in-process
(SQLite, their HTTP APIs through ASGI), the router's cases opened by its own handler of
the detector's DelinquencyUpdated and the notifier's customers by its handler of core
banking's CustomerUpserted."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from google.protobuf.message import Message
from sqlalchemy import select

from card_simulator.agents import TASK_CANCELLED, TASKS_IN_FLIGHT, Desk, DeskFigures, conversation
from card_simulator.bank import CUSTOMERS, CoreBanking, business_days
from card_simulator.population import Segment, generate
from case_router import casebook
from case_router.api import ROUTERS
from case_router.domain.strategy import DEFAULT_STRATEGY
from case_router.handlers import batch_handlers, handlers
from case_router.main import build_runtime as build_router
from case_router.settings import RouterSettings
from case_router.tables import (cases, contact_requests, holds, idempotent_requests, placements, plans, promises, tasks,
                                timeline)
from collections_core.auth import mint_token
from collections_core.clock import ControlledClock
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.storage import outbox
from collections_core.tracing import TraceContext
from collections_core.wire import date_to_proto
from notifier.main import build_runtime as build_notifier
from notifier.main import create_app as notifier_app
from notifier.settings import NotifierSettings
from notifier.tables import call_permits, contact_ledger
from notifier.tables import holds as contact_holds

DAYS = [date(2027, 3, 1) + timedelta(days=n) for n in range(60)]


def talks(segment: Segment, seed: int = 3):
    account = replace(generate(seed, 1)[0], segment=segment)
    return [conversation(account, seed, day) for day in DAYS]


def test_the_same_seed_answers_the_same_way_and_another_seed_differently():
    assert talks(Segment.PROMISES_KEPT) == talks(Segment.PROMISES_KEPT)
    assert talks(Segment.PROMISES_KEPT) != talks(Segment.PROMISES_KEPT, seed=4)


def test_each_segment_agrees_to_what_it_does_when_the_call_connects():
    for segment, agreed in [(Segment.PROMISES_KEPT, "promise"), (Segment.PROMISES_BROKEN, "promise"),
                            (Segment.HARDSHIP, "hardship"), (Segment.DISPUTES, "dispute")]:
        answered = [t for t in talks(segment) if t.permit_outcome == "conversation"]
        assert answered and {t.agreed for t in answered} == {agreed}, segment
        assert {t.task_outcome for t in answered} == {"right-party-contact"}


def test_a_never_paying_customer_mostly_does_not_answer_and_never_agrees():
    never = talks(Segment.NEVER_PAYS)
    assert sum(t.permit_outcome == "no-answer" for t in never) > len(never) // 2
    assert {t.agreed for t in never} == {""}


# -- the desk's work against the real router and notifier --------------------------------

SEED = 11
PORTFOLIO = 300  # accounts; those the bank has in arrears get a case
FIRST_DAY = date(2026, 3, 2)  # a Monday, no public holiday in China
BANK_ZONE = ZoneInfo("Asia/Shanghai")
STEPS = (("morning", 9), ("close", 18))  # in Shanghai: London is asleep in the morning, America at the close
SECRET = "desk-test-secret-of-at-least-32-bytes"
OUTSIDER = "X-NOT-SIMULATED"  # an account with a case that this simulation did not make
SECOND_CALLS = 6  # early-stage cases given a second call task in the same queue: customers who agree to something
ON_HOLD = 5  # customers under a cease-contact hold at the notifier: their calls are blocked


class DeskTraffic(httpx.AsyncBaseTransport):
    """The router's and the notifier's HTTP APIs in-process, by host name, noting every
    request the desk sent and how many were in flight at once. A request waits a few turns
    of the event loop first, more for some than for others, so requests sent together
    are answered in another order than they were sent (as over a network)."""

    def __init__(self, router_app, notifier) -> None:
        self._services = {"router": httpx.ASGITransport(app=router_app),
                          "notifier": httpx.ASGITransport(app=notifier)}
        self.sent: list[tuple[str, str, str, str]] = []  # method, path, Idempotency-Key, body
        self.in_flight = self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, f"{request.url.host}{request.url.path}",
                          request.headers.get("Idempotency-Key", ""), request.content.decode()))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(zlib.crc32(request.url.path.encode() + request.content) % 5 + 1):
                await asyncio.sleep(0)
            return await self._services[request.url.host].handle_async_request(request)
        finally:
            self.in_flight -= 1


@dataclass
class DeskAtHand:
    client: httpx.AsyncClient
    traffic: DeskTraffic
    clock: ControlledClock
    router: object
    notifier: object
    bank: CoreBanking
    route: Callable[[object, list[tuple[Message, str]]], Awaitable[None]]  # events through the router's consumer

    async def open_day(self, day: date) -> None:
        """The day's DelinquencyUpdated for every account the bank has in arrears (and for
        the outsider), through the router's own handler: cases opened, call tasks queued."""
        self.clock.set(datetime.combine(day, time(STEPS[0][1]), BANK_ZONE).astimezone(UTC))
        books = [book for book in self.bank.books.values() if book.days_past_due(day) > 0]
        reports = [(book.account.account_id, book.account.customer_id, book.account.currency,
                    book.days_past_due(day), self.bank.arrears(book.account.account_id, day))
                   for book in books] + [(OUTSIDER, "C-X", "CNY", 12, 80_000)]
        messages = [(delinquency_pb2.DelinquencyUpdated(
            account_id=account, customer_id=customer, business_date=date_to_proto(day),
            state=delinquency_pb2.DelinquencyState(
                dpd=dpd, bucket=delinquency_pb2.Bucket.Value(f"BUCKET_{_bucket(dpd)}"),
                past_due_amount=Money(max(arrears, 1), currency).to_proto(),
                balance=Money(max(arrears, 1) * 4, currency).to_proto())), account)
            for account, customer, currency, dpd, arrears in reports]
        await self.route(self.router, messages)

    async def recorded(self) -> dict[str, object]:
        """What the router and the notifier keep of the desk's work, in an order that does
        not depend on which account's requests came first; a case's timeline and a
        customer's ledger in the order written."""
        permit_requests = {}
        async with self.notifier.database.reading() as connection:
            for permit_id, request_id in await connection.execute(select(
                    call_permits.c.permit_id, call_permits.c.permit_request_id)):
                permit_requests[permit_id] = request_id
            notifier = {
                "permits": await _rows(connection, call_permits, "permit_id", "ledger_id"),
                "ledger": await _rows(connection, contact_ledger, "id", "permit_id"),
                "holds": await _rows(connection, contact_holds),
                "ledger by customer": await _in_order(connection, contact_ledger, "customer_id", "permit_id"),
            }
        async with self.router.database.reading() as connection:
            router = {table.name: await _rows(connection, table, "id") for table in (
                cases, tasks, holds, promises, plans, placements, contact_requests, idempotent_requests, timeline)}
            router["outbox"] = await _rows(connection, outbox, "id", "headers")
            # A claim is noted on the case when it is made, so a case's second task in a run
            # of claims is noted as claimed before its first is handled: the rest in order.
            router["timeline by case"] = {case: [e for e in entries if e["entry"] != "task-claimed"] for case, entries
                                          in (await _in_order(connection, timeline, "case_id")).items()}
        sent = sorted((method, path, key, _with_permit_requests(body, permit_requests))
                      for method, path, key, body in self.traffic.sent)
        return {"router": router, "notifier": notifier, "sent": sent}


def _bucket(dpd: int) -> str:
    return "M7_PLUS" if dpd > 180 else f"M{(dpd - 1) // 30 + 1}"


def _with_permit_requests(body: str, permit_requests: dict[str, str]) -> str:
    """A call outcome names its permit by the request it answered (permit ids are random)."""
    if '"permit_id"' not in body:
        return body
    fields = json.loads(body)
    return json.dumps({**fields, "permit_id": permit_requests[fields["permit_id"]]}, sort_keys=True)


async def _rows(connection, table, *leave_out: str) -> list[dict]:
    found = await connection.execute(select(*[c for c in table.c if c.name not in leave_out]))
    return sorted((dict(row._mapping) for row in found), key=repr)


async def _in_order(connection, table, by: str, *leave_out: str) -> dict[str, list[dict]]:
    """The table's rows grouped by column ``by``, each group in the order written (id)."""
    grouped: defaultdict[str, list[dict]] = defaultdict(list)
    for row in await connection.execute(select(*[c for c in table.c if c.name not in ("id", *leave_out)])
                                        .order_by(table.c.id)):
        grouped[row._mapping[by]].append(dict(row._mapping))
    return dict(grouped)


def consumer(handlers: dict, batch_handlers: dict):
    """Messages of one type, each with its key, through a service's own handlers in one unit
    of work, as its consumer hands a run of events to a batch handler (or one by one to a
    handler)."""
    async def consume(runtime, messages: list[tuple[Message, str]]) -> None:
        events = [runtime.codec.decode(*runtime.codec.encode(message, key, runtime.clock.now(), TraceContext.new(),
                                                             None)) for message, key in messages]
        async with runtime.unit_of_work() as work:
            batch = batch_handlers.get(events[0].type)
            if batch is not None:
                return await batch(events, work)
            for event in events:
                await handlers[event.type](event, work)
    return consume


@asynccontextmanager
async def desk_platform(folder: Path, reviews_in_queue: str = "hardship") -> AsyncIterator[DeskAtHand]:
    """A fresh router (its strategy's hardship reviews going to ``reviews_in_queue``) and
    notifier sharing one clock, the portfolio's customers known to the notifier, a few
    under a cease-contact hold, and the first day's cases open; a few early-stage cases
    have a second call task waiting in the same queue (as when a call was left waiting
    when the rule called again)."""
    clock = ControlledClock(datetime.combine(FIRST_DAY, time(STEPS[0][1]), BANK_ZONE).astimezone(UTC))
    strategy = folder / "strategy.yaml"
    strategy.write_text(DEFAULT_STRATEGY.read_text().replace("hardship_queue: hardship",
                                                              f"hardship_queue: {reviews_in_queue}"))
    router = build_router(RouterSettings(database_url=f"sqlite:///{folder / 'router.db'}", auth_jwt_secret=SECRET,
                                         strategy_file=strategy), topics=[], clock=clock)
    notifier = build_notifier(NotifierSettings(database_url=f"sqlite:///{folder / 'notifier.db'}",
                                               auth_jwt_secret=SECRET), topics=[], clock=clock)
    for runtime in (router, notifier):
        await upgrade(runtime.database, runtime.migrations)
    portfolio = generate(SEED, PORTFOLIO)
    bank = CoreBanking(portfolio, SEED, history_days=120)
    bank.day(FIRST_DAY)
    await consumer(notifier.notifier.handlers(), notifier.notifier.batch_handlers())(
        notifier, [(p.message, p.key) for p in bank.open_accounts(FIRST_DAY) if p.topic == CUSTOMERS])
    traffic = DeskTraffic(router.app("case-router", ROUTERS), notifier_app(runtime=notifier))
    token = mint_token(SECRET, "simulator", ["agent"], ttl_seconds=3600)
    try:
        async with httpx.AsyncClient(transport=traffic, headers={"Authorization": f"Bearer {token}"}) as client:
            at_hand = DeskAtHand(client, traffic, clock, router, notifier, bank,
                                 consumer(handlers(router.strategy), batch_handlers(router.strategy)))
            await at_hand.open_day(FIRST_DAY)
            in_arrears = [book.account for book in bank.books.values() if book.days_past_due(FIRST_DAY) > 0]
            for account in in_arrears[:ON_HOLD * 7:7]:
                (await client.put(f"http://notifier/v1/customers/{account.customer_id}/holds/cease-contact",
                                  json={})).raise_for_status()
            agreeing = {a.account_id for a in portfolio if conversation(a, SEED, FIRST_DAY).agreed}
            async with router.unit_of_work() as work:
                calls = (await work.connection.execute(select(tasks).where(tasks.c.queue == "early")
                                                       .order_by(tasks.c.task_id))).all()
                for call in [call for call in calls if call.account_id in agreeing][:SECOND_CALLS]:
                    case = (await work.connection.execute(select(cases).where(cases.c.case_id == call.case_id))).one()
                    # Claimed right after the first: same priority and day, the next task id.
                    await casebook.create_task(work, case, f"{call.task_id}-again", "call", "early", call.priority,
                                               call.due_on, rule=call.rule)
            traffic.sent.clear()
            yield at_hand
    finally:
        for runtime in (router, notifier):
            await runtime.database.dispose()
            await runtime.batch_database.dispose()


@dataclass
class Worked:
    claimed: list[int]  # per step
    figures: DeskFigures
    promised: dict[str, date | None]  # the bank's view: account → the date its customer promised to pay by
    recorded: dict[str, object]
    most_in_flight: int


async def work_two_days(folder: Path, reviews_in_queue: str = "hardship", **desk) -> Worked:
    """Two business days, morning and close, of the bank's agents working the desk."""
    async with desk_platform(folder, reviews_in_queue) as platform:
        accounts = {book.account.account_id: book.account for book in platform.bank.books.values()}
        agents = Desk(platform.client, "http://router", "http://notifier", platform.bank, accounts, SEED,
                      agents=3, calls_each=10, **desk)
        claimed = []
        for number, day in enumerate(business_days(FIRST_DAY, 2)):
            if number:
                platform.bank.day(day)
                await platform.open_day(day)
            for step, hour in STEPS:
                platform.clock.set(datetime.combine(day, time(hour), BANK_ZONE).astimezone(UTC))
                claimed.append(await agents.work(day, step))
        return Worked(claimed, agents.figures, {a: b.promised_on for a, b in platform.bank.books.items()},
                      await platform.recorded(), platform.traffic.most_in_flight)


async def test_the_agents_handle_a_queues_claimed_tasks_side_by_side(tmp_path):
    async with desk_platform(tmp_path) as platform:
        accounts = {book.account.account_id: book.account for book in platform.bank.books.values()}
        agents = Desk(platform.client, "http://router", "http://notifier", platform.bank, accounts, SEED)
        claimed = await agents.work(FIRST_DAY, "morning")
    assert claimed > TASKS_IN_FLIGHT
    assert 1 < platform.traffic.most_in_flight <= TASKS_IN_FLIGHT, \
        f"{platform.traffic.most_in_flight} requests were in flight at most"


# The strategy's hardship reviews go to a queue worked before the letter queue's calls that
# open most of them, to that very queue, or to one worked after it in the same step.
@pytest.mark.parametrize("reviews_in_queue", ["hardship", "letter", "review"],
                         ids=["reviews-queued-apart", "reviews-in-the-call-queue", "reviews-in-a-later-queue"])
async def test_handling_claimed_tasks_side_by_side_comes_to_what_handling_them_one_by_one_does(
        tmp_path, reviews_in_queue):
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    one_by_one = await work_two_days(tmp_path / "one", reviews_in_queue, in_flight=1)
    side_by_side = await work_two_days(tmp_path / "many", reviews_in_queue)

    assert one_by_one.most_in_flight == 1 and side_by_side.most_in_flight > 1
    # The comparison means something only if the steps held every kind of task and answer.
    figures = one_by_one.figures
    assert set(figures.permits) == {"allow", "defer", "block"} and set(figures.calls) >= {"conversation", "no-answer"}
    assert figures.promises and figures.hardships and figures.plans and figures.disputes
    assert 0 < min(one_by_one.claimed) and max(one_by_one.claimed) == 30, "some step ran out of calls"
    timeline = one_by_one.recorded["router"]["case_timeline"]
    opened = {(e["case_id"], e["at"]) for e in timeline if e["entry"] == "hold-started" and "hardship" in e["detail"]}
    reviewed = {(e["case_id"], e["at"]) for e in timeline
                if e["entry"] == "task-claimed" and e["detail"].startswith("hardship-review")}
    assert opened and reviewed, "hardship reviews were opened and worked"
    assert bool(opened & reviewed) == (reviews_in_queue != "hardship"), "reviews worked in the step that opened them"

    assert side_by_side.claimed == one_by_one.claimed, "tasks claimed, per step"
    assert side_by_side.figures == one_by_one.figures
    assert side_by_side.promised == one_by_one.promised
    assert side_by_side.recorded["sent"] == one_by_one.recorded["sent"], \
        "the same requests with the same Idempotency-Keys and bodies"
    assert side_by_side.recorded["router"] == one_by_one.recorded["router"]
    assert side_by_side.recorded["notifier"] == one_by_one.recorded["notifier"]


async def test_a_failed_request_stops_the_step_with_its_own_error():
    handled = []

    async def services(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # as over a network, another task's request goes out meanwhile
        if request.url.path == "/v1/queues":
            return httpx.Response(200, json=[{"queue": "early", "claimable": 40}])
        if request.url.path.endswith("/claims"):
            n = int(request.headers["Idempotency-Key"].rsplit("-", 1)[1])
            return httpx.Response(201, json={"task_id": f"T-{n}", "case_id": f"K-{n}", "account_id": f"A-{n}",
                                             "kind": "follow-up"})
        handled.append(request.url.path)
        return httpx.Response(503 if request.url.path == "/v1/tasks/T-1/outcome" else 200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(services)) as client:
        agents = Desk(client, "http://router", "http://notifier", bank=None, accounts={}, seed=7)
        with pytest.raises(httpx.HTTPStatusError, match="503"):
            await agents.work(FIRST_DAY, "morning")
    assert len(handled) < agents.capacity, "the tasks not yet started are left alone"


@pytest.mark.parametrize("refusal", [TASK_CANCELLED, "about:blank"])
async def test_a_task_whose_case_closed_under_the_agent_is_left_and_any_other_refusal_raises(refusal):
    """A cure can close a case between the claim of its task and the outcome (the router then
    answers a 409 of type task-cancelled): the agent moves on. Any other 409 (a lease lost)
    is an error of the run."""
    finished = []

    async def services(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        if request.url.path == "/v1/queues":
            return httpx.Response(200, json=[{"queue": "early", "claimable": 3}])
        if request.url.path.endswith("/claims"):
            n = int(request.headers["Idempotency-Key"].rsplit("-", 1)[1])
            if n > 3:
                return httpx.Response(404, json={})
            return httpx.Response(201, json={"task_id": f"T-{n}", "case_id": f"K-{n}", "account_id": f"A-{n}",
                                             "kind": "follow-up"})
        finished.append(request.url.path)
        if request.url.path == "/v1/tasks/T-2/outcome":
            return httpx.Response(409, json={"type": refusal, "title": "refused", "status": 409},
                                  headers={"content-type": "application/problem+json"})
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(services)) as client:
        agents = Desk(client, "http://router", "http://notifier", bank=None, accounts={}, seed=7)
        if refusal != TASK_CANCELLED:
            with pytest.raises(httpx.HTTPStatusError, match="409"):
                await agents.work(FIRST_DAY, "morning")
        else:
            assert await agents.work(FIRST_DAY, "morning") == 3
    assert "/v1/tasks/T-2/outcome" in finished
