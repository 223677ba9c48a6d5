"""The partners the simulation plays: three agencies and a law firm, seeded into the gateway,
working their placements many at a time with the result of working them one by one.

The tests of the day's work run the real agency-gateway in-process (SQLite, its HTTP API
through ASGI, placements requested through its own event handler) with the notifier's
call-permit API stood in by a contact policy that, like the real one, answers from each
customer's own history only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import select

from agency_gateway.main import build_runtime, create_app, prepare
from agency_gateway.notifier import Notifier
from agency_gateway.partners import PartnerTerms
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import activities, call_permits, placements
from card_simulator import agencies as agencies_module
from card_simulator.agencies import (
    PARTNER_REQUESTS_PER_SECOND,
    PARTNERS,
    PLACEMENTS_IN_FLIGHT,
    Agencies,
    PartnerFigures,
    write_seed,
)
from card_simulator.bank import CoreBanking, business_days
from card_simulator.population import generate
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork


def test_the_seed_file_registers_three_agencies_and_a_law_firm_the_gateway_accepts(tmp_path):
    entries = yaml.safe_load(write_seed(tmp_path / "partners.yaml").read_text())["partners"]
    terms = [PartnerTerms(**{**e, "regions": tuple(e["regions"])}) for e in entries]
    assert sorted(t.kind for t in terms) == ["agency", "agency", "agency", "legal"]
    assert {e["partner_id"]: e["client_secret"] for e in entries} == {p.partner_id: p.client_secret for p in PARTNERS}
    assert {t.rate_limit_per_second for t in terms} == {PARTNER_REQUESTS_PER_SECOND}


def test_the_partners_perform_differently():
    agencies = [p for p in PARTNERS if p.kind == "agency"]
    assert len({(p.ack_percent, p.reach_percent, p.promise_percent, p.keeps_days) for p in agencies}) == 3


async def test_a_partner_waits_out_the_gateways_rate_limit_and_tries_again():
    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(429, headers={"Retry-After": "0"}),
               httpx.Response(201, json={"decision": "allow"})]
    seen = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers["Idempotency-Key"]))
        return answers[len(seen) - 1]

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url="http://gateway") as client:
        agencies = Agencies(client, "http://gateway", bank=None, accounts={}, seed=7)
        answer = await agencies._write("http://gateway/v1/placements/P-1/call-permits", {}, "call-P-1", {})
    assert answer.status_code == 201
    assert seen == [("POST", "/v1/placements/P-1/call-permits", "call-P-1")] * 3, "the same request, same key"


async def test_a_partner_waits_out_a_call_permit_the_notifier_could_not_answer_and_tries_again():
    """The gateway answers 503 with Retry-After while the contact-policy service does not answer;
    a 503 without one (nothing to wait for) is the caller's to handle."""
    answers = [httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(201, json={"decision": "allow"}),
               httpx.Response(503)]
    seen = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        return answers[len(seen) - 1]

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url="http://gateway") as client:
        agencies = Agencies(client, "http://gateway", bank=None, accounts={}, seed=7)
        assert (await agencies._write("http://gateway/v1/placements/P-1/call-permits", {}, "call-P-1", {})
                ).status_code == 201
        assert (await agencies._write("http://gateway/v1/placements/P-2/call-permits", {}, "call-P-2", {})
                ).status_code == 503
    assert seen == ["call-P-1", "call-P-1", "call-P-2"]


# -- a business day's work against the real gateway -------------------------------------

SEED = 11
PLACED = 40  # accounts placed: agencies (champion and challengers) and the law firm
FIRST_DAY = date(2026, 3, 2)  # a Monday
BANK_ZONE = ZoneInfo("Asia/Shanghai")
# Two partners hand a placement back after two days, so the third day returns some.
SHORT_TERM = tuple(replace(p, keeps_days=2) if p.partner_id in ("steady-collections", "eastlake-law") else p
                   for p in PARTNERS)


class ContactPolicy:
    """The notifier's call-permit API as the gateway calls it. Like the real policy (caps,
    holds, quiet hours), an answer depends on the customer's own history alone: a customer
    whose id ends in 3 is under a cease-contact hold, one ending in 5 or 7 has reached a cap
    the first time a partner asks and is allowed after, everyone else is allowed."""

    def __init__(self) -> None:
        self.answers: dict[str, list[dict]] = {}  # customer → permits, in the order asked
        self._by_request: dict[str, dict] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/v1/call-outcomes":
            return httpx.Response(200, json={"recorded": True})
        if body["permit_request_id"] not in self._by_request:
            customer = body["customer_id"]
            history = self.answers.setdefault(customer, [])
            decision, rule = ("block", "cease-contact") if customer.endswith("3") else (
                ("defer", "connected-calls-cap") if customer[-1] in "57" and not history else ("allow", None))
            answer = {"permit_id": f"PM-{customer}-{len(history) + 1}", "decision": decision, "rule": rule,
                      "retry_after": None, "customer_local_time": "2026-03-02T10:00:00+08:00"}
            history.append(answer)
            self._by_request[body["permit_request_id"]] = answer
        return httpx.Response(200, json=self._by_request[body["permit_request_id"]])


class PartnerTraffic(httpx.AsyncBaseTransport):
    """The gateway's HTTP API in-process, noting the writes the partners sent and how many
    requests about single placements were in flight at once."""

    def __init__(self, app) -> None:
        self._gateway = httpx.ASGITransport(app=app)
        self.writes: list[tuple[str, str, str]] = []  # path, Idempotency-Key, body
        self.in_flight = self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        about_one = request.url.path.startswith("/v1/placements/")
        if about_one:
            self.writes.append((request.url.path, request.headers["Idempotency-Key"], request.content.decode()))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._gateway.handle_async_request(request)
        finally:
            if about_one:
                self.in_flight -= 1


@dataclass
class GatewayAtHand:
    client: httpx.AsyncClient
    traffic: PartnerTraffic
    policy: ContactPolicy
    runtime: object

    async def recorded(self) -> dict[str, list[tuple]]:
        """What the gateway keeps of the partners' work, in a stable order."""
        async with self.runtime.database.reading() as connection:
            return {
                "placements": sorted(tuple(r) for r in (await connection.execute(select(
                    placements.c.placement_id, placements.c.partner_id, placements.c.status,
                    placements.c.end_reason, placements.c.acknowledged_at.is_not(None))))),
                "permits": sorted(tuple(r) for r in (await connection.execute(select(
                    call_permits.c.permit_id, call_permits.c.placement_id, call_permits.c.partner_id,
                    call_permits.c.customer_id, call_permits.c.decision, call_permits.c.rule)))),
                "activities": sorted(tuple(r) for r in (await connection.execute(select(
                    activities.c.placement_id, activities.c.partner_id, activities.c.kind, activities.c.occurred_at,
                    activities.c.promised_amount_minor, activities.c.promised_on)))),
            }


@asynccontextmanager
async def partner_gateway(folder: Path) -> AsyncIterator[GatewayAtHand]:
    """A fresh gateway with the simulation's partners (with SHORT_TERM's profiles) and the
    first PLACED accounts of the portfolio placed, split between agencies by the gateway's
    own champion/challenger rule and, every fifth, referred to the law firm."""
    settings = GatewaySettings(database_url=f"sqlite:///{folder / 'gateway.db'}", consumer_group="gw-agencies",
                               auth_jwt_secret="agencies-test-secret-of-at-least-32-bytes",
                               partner_seed_file=str(write_seed(folder / "partners.yaml", SHORT_TERM)),
                               challenger_percent=50)
    runtime = build_runtime(settings)
    await upgrade(runtime.database, runtime.migrations)
    await prepare(runtime)
    app = create_app(settings, runtime)
    policy = ContactPolicy()
    app.state.notifier = Notifier(settings, transport=httpx.MockTransport(policy))
    codec = EventCodec(TypeRegistry.of_contracts(), "/test")
    for n, account in enumerate(generate(SEED, PLACED), start=1):
        message = placements_pb2.PlacementRequested(
            placement_id=f"PL-{n:03d}", case_id=f"K-{n:03d}", account_id=account.account_id,
            customer_id=account.customer_id, region="Shanghai", amount=Money(150_000, "CNY").to_proto(), dpd=97,
            kind=placements_pb2.PLACEMENT_KIND_LEGAL if n % 5 == 0 else placements_pb2.PLACEMENT_KIND_AGENCY)
        event = codec.decode(*codec.encode(message, account.account_id, runtime.clock.now(), TraceContext.new()))
        async with runtime.database.transaction() as connection:
            work = UnitOfWork(connection, codec, runtime.clock, cause=event)
            await runtime.gateway.handlers()[event.type](event, work)
            await work.flush()
    traffic = PartnerTraffic(app)
    try:
        async with httpx.AsyncClient(transport=traffic, base_url="http://gateway") as client:
            yield GatewayAtHand(client, traffic, policy, runtime)
    finally:
        await app.state.notifier.close()
        await runtime.notifier.close()
        await runtime.webhooks.close()
        await runtime.database.dispose()


def the_bank() -> CoreBanking:
    """The portfolio's bank with 120 days of history: some of the placed accounts owe arrears."""
    bank = CoreBanking(generate(SEED, PLACED), SEED, history_days=120)
    bank.day(FIRST_DAY)
    return bank


@dataclass
class Worked:
    made: list[int]  # requests made, per step
    figures: dict[str, PartnerFigures]
    promised: dict[str, date | None]  # the bank's view: account → the date its customer promised to pay by
    writes: list[tuple[str, str, str]]
    recorded: dict[str, list[tuple]]
    permits_by_customer: dict[str, list[dict]]
    most_in_flight: int


async def work_three_days(folder: Path, **in_flight) -> Worked:
    """Three business days, morning and close, of the partners working the placements."""
    async with partner_gateway(folder) as gateway:
        bank = the_bank()
        agencies = Agencies(gateway.client, "http://gateway", bank, {}, SEED, SHORT_TERM, **in_flight)
        made = []
        for day in business_days(FIRST_DAY, 3):
            for step, hour in (("morning", 9), ("close", 18)):
                made.append(await agencies.work(day, datetime.combine(day, time(hour), BANK_ZONE), step))
        return Worked(made, agencies.figures, {a: b.promised_on for a, b in bank.books.items()},
                      sorted(gateway.traffic.writes), await gateway.recorded(), gateway.policy.answers,
                      gateway.traffic.most_in_flight)


async def test_the_partners_work_many_placements_at_once(tmp_path):
    async with partner_gateway(tmp_path) as gateway:
        agencies = Agencies(gateway.client, "http://gateway", the_bank(), {}, SEED, SHORT_TERM)
        made = await agencies.work(FIRST_DAY, datetime.combine(FIRST_DAY, time(9), BANK_ZONE), "morning")
    assert made > PLACED, "most placements took more than one request"
    assert 1 < gateway.traffic.most_in_flight <= PLACEMENTS_IN_FLIGHT, \
        f"{gateway.traffic.most_in_flight} requests about placements were in flight at most"


async def test_working_placements_at_once_comes_to_what_working_them_one_by_one_does(tmp_path, monkeypatch):
    monkeypatch.setattr(agencies_module, "PAGE_SIZE", 4)  # every partner's listing runs over several pages
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    one_by_one = await work_three_days(tmp_path / "one", in_flight=1)
    at_once = await work_three_days(tmp_path / "many")

    assert one_by_one.most_in_flight == 1 and at_once.most_in_flight > 1
    # The comparison means something only if the days held every kind of step.
    figures = one_by_one.figures.values()
    assert all(sum(p.permits.values()) for p in figures), "every partner asked for call permits"
    assert {d for p in figures for d in p.permits} == {"allow", "defer", "block"}
    assert sum(p.acknowledged for p in figures) and sum(p.returned for p in figures)
    assert sum(p.promises for p in figures) and {o for p in figures for o in p.calls} == {"conversation", "no-answer"}

    assert at_once.made == one_by_one.made, "requests made, per step"
    assert at_once.figures == one_by_one.figures
    assert at_once.promised == one_by_one.promised
    assert at_once.writes == one_by_one.writes, "the same writes with the same Idempotency-Keys and bodies"
    assert at_once.recorded == one_by_one.recorded
    assert at_once.permits_by_customer == one_by_one.permits_by_customer, "each customer's permits, in order"


async def test_a_failed_request_stops_the_days_work_with_its_own_error():
    worked = []

    async def gateway(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # as over a network, another placement's request goes out meanwhile
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        if request.url.path == "/v1/placements":
            return httpx.Response(200, json={"next_cursor": None, "placements": [
                {"placement_id": f"P-{n}", "status": "acknowledged", "account_id": f"A-{n}"} for n in range(40)]})
        worked.append(request.url.path)
        return httpx.Response(503 if request.url.path == "/v1/placements/P-0/call-permits" else 200,
                              json={"decision": "block"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url="http://gateway") as client:
        agencies = Agencies(client, "http://gateway", bank=None, accounts={}, seed=7, partners=PARTNERS[:1])
        with pytest.raises(httpx.HTTPStatusError, match="503"):
            await agencies.work(FIRST_DAY, datetime.combine(FIRST_DAY, time(9), BANK_ZONE), "morning")
    assert len(worked) < 40, "the placements not yet started are left alone"

