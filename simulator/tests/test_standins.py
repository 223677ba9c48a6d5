"""The local platform's stand-ins log what really reached the outside world, once, on
the platform's clock: a replayed key writes nothing."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import httpx

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
