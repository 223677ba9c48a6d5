"""Per-partner rate limits that hold across every gateway replica (decision 0071).

A partner may make ``rate_limit_per_second`` requests in each wall-clock second,
counted over all replicas together in one database row per partner
(``rate_windows``), which a single UPSERT ... RETURNING moves on. To keep that row
off the path of most requests, a replica takes a lease of several requests at once
(a small share of the limit) and spends it in memory; a window's leases never add up
to more than the limit, so the limit holds however many replicas serve the partner.
What a replica leased and did not spend is lost with the window: at most one lease
per replica and window. Once a window is known to be exhausted the replica refuses
the rest of it without asking the database again.

Wall clock, not the business clock: the limit protects real capacity (decision 0070).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite

from agency_gateway.tables import rate_windows
from collections_core.database import Database

_EXHAUSTED = -1


class RateLimiter:
    def __init__(self, database: Database, lease_percent: int, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._lease_percent = lease_percent
        self._clock = clock
        self._leases: dict[str, tuple[int, int]] = {}  # partner -> (window, requests left, or _EXHAUSTED)
        self._locks: dict[str, asyncio.Lock] = {}
        self._insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert

    async def take(self, partner_id: str, per_second: int | Callable[[], Awaitable[int]]) -> float | None:
        """None when the request may go ahead, else the seconds until the partner's next window.
        ``per_second`` is the partner's limit, or a coroutine function that reads it, called
        only when a lease is taken (most requests spend a lease in memory and read nothing)."""
        now = self._clock()
        window = math.floor(now)
        if self._spend(partner_id, window):
            return None
        # One lease in flight per partner and replica: the requests that arrive meanwhile
        # spend it instead of each taking a lease of their own from the shared count.
        async with self._locks.setdefault(partner_id, asyncio.Lock()):
            now = self._clock()  # the wait for the lock may have crossed into the next second
            window = math.floor(now)
            if self._spend(partner_id, window):
                return None
            if self._leases.get(partner_id) != (window, _EXHAUSTED):
                limit = per_second if isinstance(per_second, int) else await per_second()
                granted = await self._lease(partner_id, window, limit)
                self._leases[partner_id] = (window, granted - 1 if granted > 0 else _EXHAUSTED)
                if granted > 0:
                    return None
        return window + 1 - now

    def _spend(self, partner_id: str, window: int) -> bool:
        held, left = self._leases.get(partner_id, (None, 0))
        if held == window and left > 0:
            self._leases[partner_id] = (window, left - 1)
            return True
        return False

    async def _lease(self, partner_id: str, window: int, per_second: int) -> int:
        """Requests this replica may spend in the window: up to a lease, never past the limit."""
        size = max(1, per_second * self._lease_percent // 100)
        statement = self._insert(rate_windows).values(partner_id=partner_id, window_start=window, used=size)
        # A replica whose clock is a little behind counts into the newer window, never reopens an old one.
        current = rate_windows.c.window_start >= statement.excluded.window_start
        statement = statement.on_conflict_do_update(index_elements=[rate_windows.c.partner_id], set_={
            "window_start": case((current, rate_windows.c.window_start), else_=statement.excluded.window_start),
            "used": case((current, rate_windows.c.used + statement.excluded.used), else_=statement.excluded.used),
        }).returning(rate_windows.c.used)
        async with self._database.transaction() as connection:
            used = (await connection.execute(statement)).scalar_one()
        return max(0, min(size, per_second - (used - size)))

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
