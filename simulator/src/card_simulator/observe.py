"""Watching the platform from outside: its /metrics, and when it has gone quiet.

The simulator moves the shared clock only once the platform has finished reacting to
the last move: every consumer caught up, every outbox drained, nothing more reaching
the stand-ins. Otherwise a contact judged at 18:00 in Shanghai could reach the
provider after the clock moved to the next morning, and the audit would see it at a
time the notifier never chose.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


def parse_metrics(text: str) -> Samples:
    """Prometheus text exposition → (name, labels, value) for every sample."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(_LABEL.findall(match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(value for sample, found, value in samples
               if sample == name and all(found.get(k) == v for k, v in labels.items()))


def by_labels(samples: Samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    figures: dict[tuple[str, ...], float] = {}
    for sample, labels, value in samples:
        if sample == name:
            key = tuple(labels.get(k, "") for k in keys)
            figures[key] = figures.get(key, 0) + value
    return figures


async def scrape(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Samples]:
    answers = await asyncio.gather(*(client.get(f"{url}/metrics") for url in urls.values()))
    return {name: parse_metrics(answer.text) for name, answer in zip(urls, answers, strict=True)}


_ACTIVITY = ("cc_events_consumed_total", "cc_events_published_total", "cc_consumer_lag", "cc_outbox_backlog",
             "notifier_dispatcher_busy")
_ASK = [("name[]", name) for name in _ACTIVITY]  # the services render only these series


async def _activity(client: httpx.AsyncClient, urls: dict[str, str]) -> tuple[float, ...] | None:
    """Consumed, published, lag, backlog over every service and whether the notifier's
    dispatcher has contacts due or failed its last round; only those series are asked
    for, as this runs several times per simulated business day. None while a service does not
    answer (a chaos run restarts killed ones)."""
    try:
        answers = await asyncio.gather(*(client.get(f"{url}/metrics", params=_ASK) for url in urls.values()))
    except httpx.TransportError:
        return None
    every = parse_metrics("\n".join(answer.text for answer in answers))
    return tuple(total(every, name) for name in _ACTIVITY)


async def settle(client: httpx.AsyncClient, urls: dict[str, str], outside: Callable[[], int],
                 timeout: float = 120.0, gap: float = 0.1, provider: str | None = None) -> None:
    """Wait until two looks ``gap`` apart (longer than the notifier's dispatch interval,
    0.05 s on the local platform) see no lag, no backlog, a dispatcher with nothing due
    (one backing off after a fault still has its contacts to send), and nothing new
    consumed, published or delivered;
    with the stand-in SMS ``provider``, also no delivery receipt on its way to the notifier
    (one in flight changes none of the services' figures until it lands)."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        activity = await _activity(client, urls)
        consumed, published, lag, backlog, busy = activity or (0, 0, -1, -1, 1)
        receipts = await _receipts_pending(client, provider) if provider else 0
        now = (consumed, published, outside()) if activity else None
        if lag == 0 and backlog == 0 and busy == 0 and receipts == 0 and now == previous:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the platform did not go quiet within {timeout:.0f} s "
                               f"(lag {lag:.0f}, outbox backlog {backlog:.0f}, dispatcher busy {busy:.0f}, "
                               f"receipts on their way {receipts})")
        previous = now
        await asyncio.sleep(gap)


async def _receipts_pending(client: httpx.AsyncClient, provider: str) -> int:
    try:
        return (await client.get(f"{provider}/stats")).json()["receipts_pending"]
    except httpx.TransportError:
        return -1  # restarting (a chaos run): not quiet
