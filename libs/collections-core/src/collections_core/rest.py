"""A worker's rest between rounds: until it is woken or the time is up.

Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives in
the same moment as the wake-up, and the cancelled worker runs on; a service's stop
then waits for it forever. ``asyncio.timeout`` lets the cancellation through."""

from __future__ import annotations

import asyncio


async def rest(wake: asyncio.Event, seconds: float) -> bool:
    """Whether ``wake`` was set before ``seconds`` ran out."""
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
        return True
    except TimeoutError:
        return False
