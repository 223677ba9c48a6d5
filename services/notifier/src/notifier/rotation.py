"""Key rotation: re-encrypt every contact point still sealed under an older key,
one batch per transaction, so a large table rotates without one long lock and a
restart simply continues. Runs as a worker when the service starts; an old key
can be removed from the settings once this reports nothing left to rotate."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from collections_core.logs import get_logger
from collections_core.service import ServiceRuntime
from notifier.crypto import PiiCipher
from notifier.tables import contact_points

log = get_logger(__name__)
SEALED = ("name", "phone", "email", "address")


async def rotate_keys(runtime: ServiceRuntime, cipher: PiiCipher, batch_size: int) -> int:
    """Re-encrypt rows not under the active key; returns how many were rotated."""
    rotated = 0
    while True:
        async with runtime.unit_of_work() as work:
            rows = (await work.connection.execute(
                select(contact_points).where(contact_points.c.key_id != cipher.active_key_id)
                .order_by(contact_points.c.customer_id).limit(batch_size))).all()
            for row in rows:
                fresh = {column: cipher.rotate(getattr(row, column), row.customer_id, column) for column in SEALED}
                await work.connection.execute(update(contact_points).where(
                    contact_points.c.customer_id == row.customer_id).values(key_id=cipher.active_key_id, **fresh))
        rotated += len(rows)
        if len(rows) < batch_size:
            if rotated:
                log.info("contact points re-encrypted under the active key", rotated=rotated,
                         key_id=cipher.active_key_id)
            return rotated


def key_rotation(cipher: PiiCipher, batch_size: int, retry_max_seconds: float):
    async def rotate_pii_keys(runtime: ServiceRuntime) -> None:
        backoff = 0.5
        while True:
            try:
                await rotate_keys(runtime, cipher, batch_size)
                return
            except Exception as error:  # the database may be away at start-up: try again, never die
                log.warning("key rotation failed, will retry", error=type(error).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, retry_max_seconds)

    return rotate_pii_keys
