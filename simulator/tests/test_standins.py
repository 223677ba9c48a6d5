"""The local platform's stand-ins log what really reached the outside world, once, on
the platform's clock: a replayed key writes nothing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from collections_core.clock import FileClock

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
from local_standins import DeliveryLog, print_vendor, sms_provider  # noqa: E402


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_an_sms_is_logged_once_with_the_platforms_clock_and_a_replay_is_not(tmp_path):
    clock = tmp_path / "clock"
    FileClock.write(clock, datetime.fromisoformat("2027-02-01T21:30:00+08:00"))
    app = sms_provider(DeliveryLog(tmp_path / "log", str(clock)), "secret", "token", "http://127.0.0.1:9/unused")
    message = {"to": "+8613800000001", "text": "hello", "template": "overdue.sms", "reference": "req-1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://provider") as client:
        headers = {"Authorization": "Bearer token", "Idempotency-Key": "req-1"}
        first = await client.post("/v1/messages", json=message, headers=headers)
        again = await client.post("/v1/messages", json=message, headers=headers)
        refused = await client.post("/v1/messages", json=message, headers={"Idempotency-Key": "req-2"})
    assert (first.status_code, again.status_code, refused.status_code) == (202, 202, 401)
    assert again.headers["Idempotent-Replayed"] == "true"
    [entry] = _lines(tmp_path / "log" / "sms.jsonl")
    assert entry["reference"] == "req-1" and entry["to"] == "+8613800000001"
    assert datetime.fromisoformat(entry["at"]) == datetime.fromisoformat("2027-02-01T13:30:00+00:00")


async def test_a_letter_is_logged_once_per_idempotency_key(tmp_path):
    app = print_vendor(DeliveryLog(tmp_path / "log", None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vendor") as client:
        for _ in range(2):
            assert (await client.post("/v1/letters", content=b"%PDF-1.4 letter",
                                      headers={"Idempotency-Key": "req-7"})).status_code == 202
        assert (await client.post("/v1/letters", content=b"not a pdf",
                                  headers={"Idempotency-Key": "req-8"})).status_code == 400
    assert [e["key"] for e in _lines(tmp_path / "log" / "letters.jsonl")] == ["req-7"]


@asynccontextmanager
async def provider_with_notifier(tmp_path: Path, take) -> AsyncIterator[httpx.AsyncClient]:
    """The stand-in SMS provider, its receipts going to a notifier whose ``POST /receipts``
    is ``take``; yields a client of the provider."""
    notifier = FastAPI()
    notifier.post("/receipts")(take)
    server = uvicorn.Server(uvicorn.Config(notifier, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        callback = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/receipts"
        clock = tmp_path / "clock"
        FileClock.write(clock, datetime.fromisoformat("2027-02-01T10:00:00+08:00"))
        app = sms_provider(DeliveryLog(tmp_path / "log", str(clock)), "secret", "token", callback)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://provider") as client:
            sent = await client.post("/v1/messages", headers={"Authorization": "Bearer token", "Idempotency-Key": "r"},
                                     json={"to": "+8613800000001", "text": "hi", "reference": "r",
                                           "callback_url": callback})
            assert sent.status_code == 202
            yield client
    finally:
        server.should_exit = True
        await serving


async def _stats_once_no_receipt_is_pending(client: httpx.AsyncClient) -> dict:
    for _ in range(100):
        if (await client.get("/stats")).json()["receipts_pending"] == 0:
            break
        await asyncio.sleep(0.05)
    return (await client.get("/stats")).json()


async def test_a_receipt_on_its_way_to_the_notifier_counts_as_pending_until_it_lands(tmp_path):
    """What the demo's quiet check waits for: a receipt in flight changes no service's figure."""
    landed, release = [], asyncio.Event()

    async def take(request: Request):
        await release.wait()
        landed.append(await request.body())
        return {}

    async with provider_with_notifier(tmp_path, take) as client:
        assert (await client.get("/stats")).json()["receipts_pending"] == 1
        release.set()
        stats = await _stats_once_no_receipt_is_pending(client)
    assert stats["receipts_pending"] == 0 and stats["receipts_sent"] == 1 and len(landed) == 1


async def test_a_receipt_the_notifier_could_not_take_is_posted_again_until_it_lands(tmp_path):
    """A 503 (the notifier's database busy, say) does not lose the delivery receipt."""
    answers, landed = [503, 429], []

    async def take(request: Request):
        landed.append(await request.body())
        return JSONResponse({}, status_code=answers.pop(0) if answers else 200)

    async with provider_with_notifier(tmp_path, take) as client:
        stats = await _stats_once_no_receipt_is_pending(client)
    assert stats["receipts_pending"] == 0 and stats["receipts_sent"] == 1
    assert stats.get("receipts_failed", 0) == 0 and len(landed) == 3 and len(set(landed)) == 1
