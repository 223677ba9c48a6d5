"""Three collection agencies and one law firm working their placements through the
agency-gateway's partner API (OAuth2 client credentials), each as good as its profile:
how soon it acknowledges, how often it reaches the customer, how often a conversation
ends in a promise, and how long it keeps a placement before handing it back.

The gateway learns of them from a seed file the simulator writes (``write_seed``).

A business day's work is done as a partner's staff would do it, many placements at once:
each partner lists its open placements, then ``PLACEMENTS_IN_FLIGHT`` placements are worked
at a time, all partners together, each placement's requests one after the other. The result
does not depend on which placement finishes first (decision 0105): a customer has one card
account and an account one open placement, every draw depends only on the seed, the
placement and the day, and what the contact policy answers for a call depends only on that
customer's own history.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from card_simulator.bank import CoreBanking
from card_simulator.population import Account
from card_simulator.together import together

SCOPES = "placements:read placements:write activities:write calls:write"
PROMISE_IN_DAYS = 7


@dataclass(frozen=True, slots=True)
class Partner:
    partner_id: str
    name: str
    kind: str  # agency | legal
    commission_bps: int
    ack_percent: int  # chance a new placement is acknowledged on a given step
    reach_percent: int  # chance a permitted call becomes a conversation
    promise_percent: int  # chance a conversation ends in a promise to pay
    keeps_days: int  # hands a placement back after this many days without recovery

    @property
    def client_secret(self) -> str:
        return f"dev-{self.partner_id}-secret"


PARTNERS = (
    Partner("swift-recovery", "Swift Recovery Co.", "agency", 1500, 95, 60, 50, 80),
    Partner("steady-collections", "Steady Collections Ltd.", "agency", 1800, 70, 40, 30, 60),
    Partner("slow-lane-agency", "Slow Lane Agency", "agency", 1200, 30, 20, 10, 30),
    Partner("eastlake-law", "Eastlake Law Firm", "legal", 2500, 90, 30, 20, 120),
)


WAITED_OUT_TRIES = 30  # a 429 or 503 with Retry-After, waited out and sent again
PARTNER_REQUESTS_PER_SECOND = 500
PLACEMENTS_IN_FLIGHT = 16  # placements worked at once, all partners together: as many requests in flight
PAGE_SIZE = 200  # the partner API's largest page


def write_seed(path: Path, partners: tuple[Partner, ...] = PARTNERS) -> Path:
    """The gateway's partner seed file (GATEWAY_PARTNER_SEED_FILE) for these partners. A
    simulated partner works a whole business day's placements in a second or two, so its
    contract allows PARTNER_REQUESTS_PER_SECOND, not the gateway's default of 20."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"partners": [
        {"partner_id": p.partner_id, "name": p.name, "kind": p.kind, "regions": ["*"], "capacity": 5000,
         "commission_bps": p.commission_bps, "contract_id": f"CT-SIM-{n:03d}", "client_secret": p.client_secret,
         "rate_limit_per_second": PARTNER_REQUESTS_PER_SECOND}
        for n, p in enumerate(partners, start=1)]}, allow_unicode=True))
    return path


def _draw(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode()) % 100


@dataclass(slots=True)
class PartnerFigures:
    acknowledged: int = 0
    permits: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    promises: int = 0
    returned: int = 0


class Agencies:
    """``in_flight``: how many placements are worked at once (1 works them one by one, in
    the order the partners list them)."""

    def __init__(self, client: httpx.AsyncClient, gateway: str, bank: CoreBanking, accounts: dict[str, Account],
                 seed: int, partners: tuple[Partner, ...] = PARTNERS, in_flight: int = PLACEMENTS_IN_FLIGHT) -> None:
        if in_flight < 1:
            raise ValueError("at least one placement must be in flight")
        self.client, self.gateway, self.bank, self.accounts, self.seed = client, gateway, bank, accounts, seed
        self.partners, self.in_flight = partners, in_flight
        self.figures = {p.partner_id: PartnerFigures() for p in partners}
        self._first_seen: dict[str, date] = {}
        self._called_on: dict[str, date] = {}
        self._tokens: dict[str, tuple[str, float]] = {}

    async def work(self, day: date, at: datetime, step: str) -> int:
        """Every partner works its open placements once a day; returns the requests made.

        The partners list their placements side by side (each with its own token, page by
        page), then ``in_flight`` workers take the placements in that order, each working one
        placement's whole chain of requests before it takes the next."""
        listed = await together(self._open_placements(partner) for partner in self.partners)
        queue = iter([(partner, headers, placement)
                      for partner, (headers, placements) in zip(self.partners, listed) for placement in placements])

        async def worker() -> int:
            made = 0
            for partner, headers, placement in queue:  # one iterator for all: each placement is taken once
                made += await self._work_placement(partner, self.figures[partner.partner_id], headers, placement,
                                                   day, at, step)
            return made

        return sum(await together(worker() for _ in range(self.in_flight)))

    async def _headers(self, partner: Partner) -> dict[str, str]:
        """A bearer token per partner, kept until shortly before it expires (wall clock, as
        the gateway issues them), as a real partner keeps it. Asked for once per partner and
        day, before its placements are handed to the workers."""
        token, until = self._tokens.get(partner.partner_id, ("", 0.0))
        if time.monotonic() >= until:
            answer = await self._send("POST", f"{self.gateway}/oauth/token",
                                      auth=(partner.partner_id, partner.client_secret),
                                      data={"grant_type": "client_credentials", "scope": SCOPES})
            answer.raise_for_status()
            token = answer.json()["access_token"]
            self._tokens[partner.partner_id] = (token, time.monotonic() + answer.json()["expires_in"] * 0.8)
        return {"Authorization": f"Bearer {token}"}

    async def _open_placements(self, partner: Partner) -> tuple[dict[str, str], list[dict]]:
        """The partner's headers and the placements it still works (placed or acknowledged),
        every page of its listing in order."""
        headers = await self._headers(partner)
        still_open: list[dict] = []
        cursor = None
        while True:
            page = await self._send("GET", f"{self.gateway}/v1/placements", headers=headers,
                                    params={"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {}))
            page.raise_for_status()
            still_open += [p for p in page.json()["placements"] if p["status"] in ("placed", "acknowledged")]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return headers, still_open

    async def _work_placement(self, partner: Partner, figures: PartnerFigures, headers: dict, placement: dict,
                              day: date, at: datetime, step: str) -> int:
        pid = placement["placement_id"]
        url = f"{self.gateway}/v1/placements/{pid}"
        first_seen = self._first_seen.setdefault(pid, day)
        if placement["status"] == "placed":
            if _draw(self.seed, partner.partner_id, pid, day, step) >= partner.ack_percent:
                return 0
            (await self._write(f"{url}/acknowledgement", headers, f"ack-{pid}", None)).raise_for_status()
            figures.acknowledged += 1
        if (day - first_seen).days >= partner.keeps_days:
            (await self._write(f"{url}/return", headers, f"return-{pid}",
                               {"reason": "no recovery within our term"})).raise_for_status()
            figures.returned += 1
            return 2
        if self._called_on.get(pid) == day:
            return 1
        permit = await self._write(f"{url}/call-permits", headers, f"call-{pid}-{day}-{step}",
                                   {"agent_id": f"{partner.partner_id}-agent"})
        if permit.status_code == 410:
            return 1  # recalled or ended between the listing and the call
        permit.raise_for_status()
        decision = permit.json()
        figures.permits[decision["decision"]] = figures.permits.get(decision["decision"], 0) + 1
        if decision["decision"] != "allow":
            return 2
        self._called_on[pid] = day
        reached = _draw(self.seed, "reach", pid, day) < partner.reach_percent
        outcome = "conversation" if reached else "no-answer"
        figures.calls[outcome] = figures.calls.get(outcome, 0) + 1
        (await self._write(f"{url}/call-outcomes", headers, f"outcome-{pid}-{day}",
                           {"permit_id": decision["permit_id"], "outcome": outcome})).raise_for_status()
        arrears = self.bank.arrears(placement["account_id"], day)
        if reached and arrears > 0 and _draw(self.seed, "promise", pid, day) < partner.promise_percent:
            due_on = day + timedelta(days=PROMISE_IN_DAYS)
            (await self._write(f"{url}/activities", headers, f"promise-{pid}-{day}", {
                "kind": "promise-to-pay", "occurred_at": at.isoformat(), "promised_on": due_on.isoformat(),
                "promised_amount": {"amount_minor": arrears, "currency": placement["amount"]["currency"]}},
            )).raise_for_status()
            self.bank.promise(placement["account_id"], due_on)
            figures.promises += 1
        return 4

    async def _write(self, url: str, headers: dict, key: str, body: dict | None) -> httpx.Response:
        return await self._send("POST", url, json=body, headers=headers | {"Idempotency-Key": key})

    async def _send(self, method: str, url: str, **options) -> httpx.Response:
        """As the partner guide asks: a 429 or a 503 waits out its Retry-After and tries again
        (the gateway counts each partner's requests per second, and a busy day's calls exceed
        it; a call permit is 503 while the notifier does not answer). A write is sent again
        with its Idempotency-Key, so it happens once."""
        for _ in range(WAITED_OUT_TRIES):
            answer = await self.client.request(method, url, **options)
            if answer.status_code != 429 and not (answer.status_code == 503 and "Retry-After" in answer.headers):
                break
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        return answer

