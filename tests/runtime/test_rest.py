"""A worker's rest ends when it is woken, when its time is up, or when it is cancelled,
even in the moment it is woken (the service's stop must not wait for it)."""

from __future__ import annotations

import asyncio

from collections_core.rest import rest


async def test_rest_ends_when_woken_or_when_the_time_is_up():
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, wake.set)
    assert await rest(wake, 5) is True
    assert await rest(asyncio.Event(), 0.01) is False


async def test_a_rest_cancelled_in_the_moment_it_is_woken_ends_cancelled():
    wake, rounds = asyncio.Event(), []

    async def worker() -> None:
        while True:
            rounds.append("round")
            await rest(wake, 60)
            wake.clear()

    task = asyncio.ensure_future(worker())
    await asyncio.sleep(0.01)
    wake.set()  # a hand-over wakes the worker ...
    task.cancel()  # ... as the service's stop cancels it
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task} and task.cancelled(), f"the worker ran on: {rounds}"
    assert rounds == ["round"]
