"""A stand-in SMS provider: a real HTTP server speaking the API the notifier's SMS
adapter speaks (services/notifier/README.md, "SMS provider API").

It honours ``Idempotency-Key`` (a repeated key gets the first answer and sends
nothing), per message also in a batch (``POST /v1/message-batches``); it counts
what a customer's phone would have received, can fail and time out on purpose
(``POST /control``), and posts signed delivery receipts to the callback URL of
each message. ``GET /stats`` tells tests how many messages went
out and how many of them were duplicates of a contact already sent.

Run: ``python -m notifier.standins.sms_provider --port 8190 --secret dev-webhook-secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from collections_core.http import KEEP_ALIVE_SECONDS
from notifier.webhooks import sign

MAX_BATCH = 500
RECEIPT_ATTEMPTS = 5


def create_app(secret: str, token: str = "dev-provider-token",
               on_sent: Callable[[str, dict], None] | None = None) -> FastAPI:
    """``on_sent(key, message)``: called once per message that reaches a phone (the
    first acceptance of its key, alone or in a batch), e.g. to log it."""
    # One client for every receipt: building one costs ~30 ms of CPU (its TLS context),
    # more than the rest of a message's work here. Receipts go out a few at a time: a
    # pool with thousands of requests queued spends its time choosing connections.
    callbacks = httpx.AsyncClient(timeout=5)
    in_flight = asyncio.Semaphore(8)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await callbacks.aclose()

    app = FastAPI(title="stand-in SMS provider", lifespan=lifespan)
    answers: dict[str, dict] = {}
    messages: list[dict] = []
    per_reference: Counter = Counter()
    stats = Counter()
    plan = {"fail_next": 0, "fail_status": 503, "accept_then_hang_next": 0, "hang_seconds": 0.0}
    background: set[asyncio.Task] = set()

    async def receipt(message: dict, callback_url: str) -> None:
        """Posted 0.05 s after acceptance; like a real provider's webhooks, tried again (0.2,
        0.4, 0.8, 1.6 s later) while the notifier cannot take it (no answer, 429, 5xx), and
        pending meanwhile, so a quiet check does not read the figures before it lands."""
        await asyncio.sleep(0.05)
        body = json.dumps({"id": message["id"], "reference": message["reference"], "status": "delivered",
                           "at": time.time()}).encode()
        for attempt in range(RECEIPT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.1 * 2 ** attempt)
            stamp = int(time.time())
            try:
                async with in_flight:
                    answer = await callbacks.post(callback_url, content=body, headers={
                        "Content-Type": "application/json", "X-Timestamp": str(stamp),
                        "X-Signature": sign(secret, stamp, body)})
            except httpx.HTTPError:
                continue
            if answer.status_code != 429 and answer.status_code < 500:
                stats["receipts_sent"] += 1
                return
        stats["receipts_failed"] += 1

    def accept(key: str, body: dict) -> tuple[int, dict]:
        """One message under its key: the first answer for a key already seen."""
        if key in answers:
            stats["replayed"] += 1
            return 202, answers[key]
        to, text = str(body.get("to", "")), str(body.get("text", ""))
        if not to.startswith("+") or not to[1:].isdigit():
            return 400, {"title": "Invalid number", "detail": "to must be an E.164 number"}
        message = {"id": uuid.uuid4().hex, "to": to, "text": text, "template": str(body.get("template", "")),
                   "reference": str(body.get("reference", key))}
        answers[key] = {"id": message["id"], "status": "accepted"}
        messages.append(message)
        per_reference[message["reference"]] += 1
        if on_sent is not None:
            on_sent(key, message)
        if body.get("callback_url"):
            task = asyncio.create_task(receipt(message, body["callback_url"]))
            background.add(task)
            task.add_done_callback(background.discard)
        return 202, answers[key]

    def refusal(request: Request) -> JSONResponse | None:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return JSONResponse({"title": "Unauthorized", "detail": "bad token"}, status_code=401)
        return None

    def failure_planned() -> JSONResponse | None:
        if plan["fail_next"] > 0:
            plan["fail_next"] -= 1
            stats["failed_on_purpose"] += 1
            return JSONResponse({"title": "Unavailable", "detail": "failing on purpose"},
                                status_code=plan["fail_status"])
        return None

    async def hang_if_planned() -> None:
        if plan["accept_then_hang_next"] > 0:
            # The messages are out, but the caller will not hear so before its timeout.
            plan["accept_then_hang_next"] -= 1
            stats["hung_on_purpose"] += 1
            await asyncio.sleep(plan["hang_seconds"])

    @app.post("/v1/messages")
    async def send(request: Request):
        stats["requests"] += 1
        refused = refusal(request)
        if refused is not None:
            return refused
        key = request.headers.get("Idempotency-Key")
        if not key:
            return JSONResponse({"title": "Bad request", "detail": "Idempotency-Key is required"}, status_code=400)
        failed = failure_planned()
        if failed is not None:
            return failed
        if key in answers:
            status, answer = accept(key, {})
            return JSONResponse(answer, status_code=status, headers={"Idempotent-Replayed": "true"})
        status, answer = accept(key, await request.json())
        if status == 202:
            await hang_if_planned()
        return JSONResponse(answer, status_code=status)

    @app.post("/v1/message-batches")
    async def send_batch(request: Request):
        stats["requests"] += 1
        refused = refusal(request) or failure_planned()
        if refused is not None:
            return refused
        body = await request.json()
        items = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return JSONResponse({"title": "Bad request", "detail": f"messages: 1 to {MAX_BATCH} objects"},
                                status_code=400)
        if not all(isinstance(item, dict) and item.get("idempotency_key") for item in items):
            return JSONResponse({"title": "Bad request", "detail": "every message needs an idempotency_key"},
                                status_code=400)
        results = []
        for item in items:
            status, answer = accept(str(item["idempotency_key"]), item)
            results.append({"idempotency_key": item["idempotency_key"], "http_status": status, **answer})
        await hang_if_planned()
        return JSONResponse({"results": results}, status_code=200)

    @app.post("/control")
    async def control(request: Request):
        plan.update({k: v for k, v in (await request.json()).items() if k in plan})
        return plan

    @app.get("/stats")
    async def read_stats():
        return {"messages": len(messages), "duplicates": sum(n - 1 for n in per_reference.values()),
                "references": len(per_reference), "receipts_pending": len(background), **stats}

    @app.get("/messages")
    async def read_messages():
        return messages

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Stand-in SMS provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--secret", default="dev-webhook-secret", help="HMAC key of receipts")
    parser.add_argument("--token", default="dev-provider-token", help="bearer token callers must present")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.secret, args.token), host=args.host, port=args.port, log_level="warning",
                timeout_keep_alive=KEEP_ALIVE_SECONDS)


if __name__ == "__main__":
    main()
