"""Offset commits that are retried, and quiet partitions that are committed too.

The consumer commits a batch's offsets only after its database transaction has
committed. A failed commit loses nothing (the inbox absorbs the redelivery), but an
offset that nothing retries stays behind for good on a partition that receives no
more records, and whoever waits for the group to have consumed past a point (the
detector's close barrier) would wait for ever. The same holds for a partition whose
position moved past records the consumer is never given: transaction markers and
aborted records under read_committed. So pending offsets are retried with backoff
until they succeed or their partition is revoked, and the position of a partition
that had nothing new is committed as well.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from collections_core.logs import get_logger

log = get_logger(__name__)


class OffsetCommits:
    def __init__(self, max_backoff: float = 10.0, positions_every: float = 1.0) -> None:
        self.max_backoff = max_backoff
        self.positions_every = positions_every
        self._pending: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._backoff = 0.1
        self._retry_at = 0.0
        self._positions_at = 0.0
        # One commit at a time, so a partition's committed offset only moves forward.
        self._committing = asyncio.Lock()
        self._in_flight: asyncio.Task | None = None

    @property
    def pending(self) -> Mapping[TopicPartition, int]:
        return self._pending

    def add(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Offsets whose records' effects are committed in the database."""
        for tp, offset in offsets.items():
            if offset > self._pending.get(tp, -1):
                self._pending[tp] = offset

    def commit_soon(self, consumer: AIOKafkaConsumer) -> None:
        """Start committing what is pending without waiting for the broker's answer.
        While one such commit is in flight, offsets added meanwhile wait for the next."""
        if self._pending and (self._in_flight is None or self._in_flight.done()):
            self._in_flight = asyncio.create_task(self.commit(consumer))

    async def commit(self, consumer: AIOKafkaConsumer, *, now: bool = False, timeout: float = 30.0) -> bool:
        """One attempt (unless backing off) at committing what is pending for the
        partitions this member still owns; True when nothing is left pending. The
        client retries a commit internally for as long as the broker is away: the
        timeout bounds the attempt so that a rebalance or a stop never waits on it.
        Waits for a commit in flight first."""
        async with self._committing:
            return await self._commit(consumer, now, timeout)

    async def _commit(self, consumer: AIOKafkaConsumer, now: bool, timeout: float) -> bool:
        if not self._pending:
            return True
        if not now and time.monotonic() < self._retry_at:
            return False
        assigned = consumer.assignment()
        for tp in [tp for tp in self._pending if tp not in assigned]:
            # Revoked: its next owner re-reads from the last committed offset and the
            # inbox turns the replay into no-ops.
            del self._pending[tp]
        offsets = dict(self._pending)
        if not offsets:
            return True
        try:
            await asyncio.wait_for(consumer.commit(offsets), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a rebalance, a lost coordinator, the broker away
            self._retry_at = time.monotonic() + self._backoff
            log.warning("offset commit failed, will retry", error=type(error).__name__, detail=str(error)[:200],
                        retry_in=self._backoff, partitions=len(offsets))
            self._backoff = min(self._backoff * 2, self.max_backoff)
            return False
        for tp, offset in offsets.items():
            if self._pending.get(tp) == offset:
                del self._pending[tp]
            self._committed[tp] = offset
        self._backoff, self._retry_at = 0.1, 0.0
        return not self._pending

    async def include_positions(self, consumer: AIOKafkaConsumer) -> None:
        """Mark for commit every owned partition whose position moved past its last
        commit without records to show for it. Call only when every record the
        consumer has returned has been handled: the position counts them as done."""
        if time.monotonic() < self._positions_at:
            return
        self._positions_at = time.monotonic() + self.positions_every
        for tp in consumer.assignment():
            if tp in self._pending:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
            except (KafkaError, TimeoutError):
                continue  # revoked meanwhile, or no position yet: nothing consumed to commit
            if position > self._committed.get(tp, -1):
                self._pending[tp] = position

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions this member no longer owns."""
        for tp in partitions:
            self._pending.pop(tp, None)
            self._committed.pop(tp, None)
