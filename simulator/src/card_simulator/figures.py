"""The platform's own figures at the end of a run, read from its APIs and /metrics, and
the compliance audit's inputs: the notifier's ledger (contact history per customer),
the router's case timelines (credit-bureau reports), the stand-ins' delivery logs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from card_simulator.agencies import PARTNERS, SCOPES
from card_simulator.audit import Attempt, BureauReport, Customer, Delivery, Rules, Violation, audit
from card_simulator.customers import DeliveryLogs
from card_simulator.observe import by_labels, scrape
from card_simulator.population import Account

SERVICES = ("overdue-detector", "case-router", "notifier", "agency-gateway")
READER_ROLES = ("operations", "compliance", "agent")
CONTACT_CHANNELS = ("sms", "email", "letter")


@dataclass(slots=True)
class PlatformFigures:
    contacts: dict[tuple[str, str], int]  # (channel, outcome) → contacts, notifier_contacts_total
    decisions: dict[tuple[str, str], int]  # (decision, rule) → count, notifier_policy_decisions_total
    open_cases: dict[str, int]  # stage → cases, router_open_cases
    closed_cases: dict[tuple[str, str], int]  # (stage, reason) → cases, router_cases_closed_total
    holds_started: dict[str, int]  # kind → holds, router_holds_started_total
    placements: dict[tuple[str, str], int]  # (partner, state) → placements, gateway_placements
    cure_rates: dict  # GET /v1/reports/cure-rates
    promise_kept: dict  # GET /v1/reports/promise-kept-rates
    roll_rates: dict  # GET /v1/reports/roll-rates
    timeline_entries: dict[str, int] = field(default_factory=dict)  # case timeline entry → count
    placements_requested: dict[str, int] = field(default_factory=dict)  # agency | legal → the router's timelines
    placements_listed: dict[str, int] = field(default_factory=dict)  # agency | legal → the gateway's partner API
    opt_outs: int = 0  # customers opted out of SMS, per the notifier's contact history
    ledger_attempts: dict[str, int] = field(default_factory=dict)  # channel → allowed attempts
    violations: list[Violation] = field(default_factory=list)
    audited_contacts: int = 0


def _ints(figures: dict[tuple[str, ...], float]) -> dict:
    return {(key[0] if len(key) == 1 else key): int(value) for key, value in figures.items() if value}


async def _gathered(calls, limit: int = 8) -> list:
    gate = asyncio.Semaphore(limit)

    async def one(call):
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


def _instant(text: str) -> datetime:
    """An instant from an API; one without an offset is UTC (SQLite keeps none)."""
    instant = datetime.fromisoformat(text)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def holds_of(timeline: list[dict]) -> tuple[tuple[str, datetime, datetime | None], ...]:
    """(kind, from, until) of every hold a case's timeline started, open ones until None. A
    hold is the case's: closing the case ends the holds still open (the router records their
    end in its holds, not as timeline entries)."""
    started: dict[str, datetime] = {}
    spans = []
    for entry in timeline:
        kind = (entry.get("rule") or "").removeprefix("hold.")
        if entry["entry"] == "hold-started":
            started.setdefault(kind, _instant(entry["at"]))
        elif entry["entry"] == "hold-ended" and kind in started:
            spans.append((kind, started.pop(kind), _instant(entry["at"])))
        elif entry["entry"] == "case-closed":
            spans += [(open_kind, since, _instant(entry["at"])) for open_kind, since in started.items()]
            started.clear()
    return tuple(spans) + tuple((kind, since, None) for kind, since in started.items())


def rules_of(pack_name: str) -> Rules:
    """The audit's rules from the notifier's published pack (its data, not its judgement)."""
    from notifier.domain.policy import PACKS

    pack = PACKS[pack_name]
    return Rules(pack.allowed_from, pack.allowed_until, dict(pack.daily_caps), pack.blocking_holds)


async def read_platform(client: httpx.AsyncClient, urls: dict[str, str], portfolio: list[Account],
                        logs: DeliveryLogs, days_run: list, pack: str = "CN") -> PlatformFigures:
    scraped = await scrape(client, urls)
    notifier, router, gateway = scraped["notifier"], scraped["case-router"], scraped["agency-gateway"]
    reports = f"{urls['case-router']}/v1/reports"
    middle, last = days_run[len(days_run) // 2].business_date, days_run[-1].business_date
    cure, promise, roll = await asyncio.gather(
        client.get(f"{reports}/cure-rates"), client.get(f"{reports}/promise-kept-rates"),
        client.get(f"{reports}/roll-rates", params={"from": middle.isoformat(), "to": last.isoformat()}))
    for answer in (cure, promise, roll):
        answer.raise_for_status()
    figures = PlatformFigures(
        contacts=_ints(by_labels(notifier, "notifier_contacts_total", "channel", "outcome")),
        decisions=_ints(by_labels(notifier, "notifier_policy_decisions_total", "decision", "rule")),
        open_cases=_ints(by_labels(router, "router_open_cases", "stage")),
        closed_cases=_ints(by_labels(router, "router_cases_closed_total", "stage", "reason")),
        holds_started=_ints(by_labels(router, "router_holds_started_total", "kind")),
        placements=_ints(by_labels(gateway, "gateway_placements", "partner", "state")),
        cure_rates=cure.json(), promise_kept=promise.json(), roll_rates=roll.json())
    await _audit(client, urls, portfolio, logs, figures, rules_of(pack))
    ours = {account.account_id for account in portfolio}
    for placement in await partner_placements(client, urls["agency-gateway"]):
        if placement["account_id"] in ours:
            figures.placements_listed[placement["kind"]] = figures.placements_listed.get(placement["kind"], 0) + 1
    return figures


async def partner_placements(client: httpx.AsyncClient, gateway: str) -> list[dict]:
    """Every placement as each simulated partner lists it through the partner API (OAuth2
    client credentials), with ``partner_id`` added."""
    found = []
    for partner in PARTNERS:
        token = await client.post(f"{gateway}/oauth/token", auth=(partner.partner_id, partner.client_secret),
                                  data={"grant_type": "client_credentials", "scope": SCOPES})
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        cursor = None
        while True:
            page = await client.get(f"{gateway}/v1/placements", headers=headers,
                                    params={"limit": 200} | ({"cursor": cursor} if cursor else {}))
            page.raise_for_status()
            found += [placement | {"partner_id": partner.partner_id} for placement in page.json()["placements"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    return found


async def _audit(client: httpx.AsyncClient, urls: dict[str, str], portfolio: list[Account], logs: DeliveryLogs,
                 figures: PlatformFigures, rules: Rules) -> None:
    # Two services, two processes: read from both at once.
    histories, cases = await asyncio.gather(
        _gathered(client.get(f"{urls['notifier']}/v1/customers/{a.customer_id}/contact-history") for a in portfolio),
        _gathered(client.get(f"{urls['case-router']}/v1/accounts/{a.account_id}/case") for a in portfolio))
    stop_at = {}
    for reply in logs.replies:
        stop_at.setdefault(reply["from"], _instant(reply["at"]))
    customers, attempts, calls, templates, reports = {}, [], [], {}, []
    for account, answer in zip(portfolio, histories, strict=True):
        answer.raise_for_status()
        history = answer.json()
        opted = [_instant(o["recorded_at"]) for o in history["opt_outs"] if o["channel"] == "sms"]
        figures.opt_outs += bool(opted)
        if account.customer.phone in stop_at:
            opted.append(stop_at[account.customer.phone])
        customers[account.customer_id] = Customer(account.customer_id, history["contact_points"]["time_zone"],
                                                  min(opted) if opted else None)
        for entry in history["ledger"]:
            if entry["decision"] == "allow" and entry["channel"] in CONTACT_CHANNELS and entry["request_id"]:
                attempts.append(Attempt(account.customer_id, entry["request_id"], entry["channel"],
                                        _instant(entry["at"])))
                figures.ledger_attempts[entry["channel"]] = figures.ledger_attempts.get(entry["channel"], 0) + 1
            elif entry["decision"] == "allow" and entry["channel"] == "call":
                calls.append(Attempt(account.customer_id, entry["permit_id"] or "", "call",
                                     _instant(entry["at"])))
        templates |= {r["request_id"]: r["template"] for r in history["requests"]}
    for account, answer in zip(portfolio, cases, strict=True):
        if answer.status_code == 404:
            continue
        answer.raise_for_status()
        timeline = answer.json()["timeline"]
        customer = customers[account.customer_id]
        customers[account.customer_id] = replace(customer, holds=customer.holds + holds_of(timeline))
        for entry in timeline:
            figures.timeline_entries[entry["entry"]] = figures.timeline_entries.get(entry["entry"], 0) + 1
            if entry["entry"] == "placement-requested":
                kind = entry["detail"].split(" ", 1)[0]
                figures.placements_requested[kind] = figures.placements_requested.get(kind, 0) + 1
            if entry["entry"] == "credit-report-requested":
                reports.append(BureauReport(account.customer_id, _instant(entry["at"])))
    deliveries = [Delivery(d.channel, d.at, d.request_id, templates.get(d.request_id, d.template))
                  for d in (item.delivery for item in logs.received)]
    figures.audited_contacts = len(deliveries) + len(calls)
    figures.violations = audit(deliveries, attempts, customers, reports, rules, calls)
