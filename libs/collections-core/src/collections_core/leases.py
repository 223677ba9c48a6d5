"""Leases: work that one replica of a service at a time must do (publishing the
outbox, a business day's aging, pruning) is done by whoever holds its lease.

A lease is a row in the service's database (``leases``: name, holder, expires_at).
Taking it is one conditional write, so of several replicas exactly one succeeds;
the holder renews it while it works; a replica that dies stops renewing, and its
lease can be taken over once expired. Expiry is judged on the system clock, not
the service's clock: a simulated clock may race days ahead while leases measure
real seconds between processes. See docs/decisions/0020-one-relay-per-database-under-a-lease.md.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from collections_core.clock import Clock, SystemClock
from collections_core.database import Database
from collections_core.logs import get_logger
from collections_core.storage import leases

log = get_logger(__name__)


def this_process() -> str:
    """A holder name unique to this process, readable in the table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, database: Database, name: str, holder: str, ttl_seconds: float = 15.0,
                 wall: Clock | None = None) -> None:
        self.database = database
        self.name = name
        self.holder = holder
        self.ttl = timedelta(seconds=ttl_seconds)
        self.wall = wall or SystemClock()
        self._held_until: datetime | None = None

    async def hold(self) -> bool:
        """Take the lease or renew it; whether this process holds it now. Touches the
        database only when the lease is not held or half its time has run out."""
        now = self.wall.now()
        if self._held_until is not None and now < self._held_until - self.ttl / 2:
            return True
        until = now + self.ttl
        async with self.database.transaction() as connection:
            taken = (await connection.execute(
                update(leases).where(leases.c.name == self.name,
                                     or_(leases.c.holder == self.holder, leases.c.expires_at < now))
                .values(holder=self.holder, expires_at=until))).rowcount == 1
            if not taken:
                dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
                taken = (await connection.execute(
                    dialect.insert(leases).values(name=self.name, holder=self.holder, expires_at=until)
                    .on_conflict_do_nothing(index_elements=["name"]))).rowcount == 1
        if taken and self._held_until is None:
            log.info("lease taken", lease=self.name, holder=self.holder)
        elif not taken and self._held_until is not None:
            log.warning("lease lost", lease=self.name, holder=self.holder)
        self._held_until = until if taken else None
        return taken

    async def release(self) -> None:
        """Let another replica take over at once (on a clean stop)."""
        if self._held_until is None:
            return
        self._held_until = None
        async with self.database.transaction() as connection:
            await connection.execute(update(leases).where(leases.c.name == self.name, leases.c.holder == self.holder)
                                     .values(expires_at=self.wall.now() - self.ttl))

    async def run_while_held(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` if this process holds the lease, renewing it meanwhile; the
        work is cancelled if another replica took the lease over (this one stalled
        past its expiry). Returns whether the work ran to its end."""
        if not await self.hold():
            return False
        task = asyncio.ensure_future(work())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.ttl.total_seconds() / 3)
                if done:
                    task.result()
                    return True
                try:
                    still_held = await self.hold()
                except Exception as error:
                    # The database is busy or away: the work itself will find out; keep it running.
                    log.warning("lease renewal failed, retrying", lease=self.name, error=type(error).__name__)
                    continue
                if not still_held:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    return False
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
