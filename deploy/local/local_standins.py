"""The notifier's stand-ins (SMS provider, SMTP sink, print vendor) as one background
process of the local platform, each keeping a delivery log the simulator and its
compliance audit read.

The stand-ins themselves are the notifier's (``notifier.standins``): the SMS provider
honours ``Idempotency-Key`` and sends signed receipts, the SMTP sink drops a repeated
``Message-ID``, the print vendor answers a repeated key with its first answer. This
module adds what a run needs around them:

- ``<log>/sms.jsonl``, ``email.jsonl``, ``letters.jsonl``: one line per contact the
  outside world really received (a replayed key or a repeated Message-ID writes none),
  stamped with the platform's clock (``--clock-file``, the simulator's), because the
  audit judges hours in the customer's local time on the clock the services follow;
- ``POST /v1/inbound {"from", "text"}`` on the SMS provider: a customer's reply (STOP),
  which the provider signs and relays to the notifier's replies webhook, logged too.

    python deploy/local/local_standins.py --sms-port 8190 --smtp-port 8025 --print-port 8191 \\
        --log var/standins --replies-url http://127.0.0.1:8103/v1/webhooks/sms/replies
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse

from collections_core.clock import FileClock
from collections_core.http import KEEP_ALIVE_SECONDS
from notifier.standins.mail_and_print import MailServer, create_print_vendor
from notifier.standins.sms_provider import create_app as create_sms_provider
from notifier.webhooks import sign


class DeliveryLog:
    """Append-only JSON lines, one file per channel, stamped with the platform's clock."""

    def __init__(self, folder: Path, clock_file: str | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.clock = FileClock(clock_file) if clock_file else None

    def now(self) -> datetime:
        return self.clock.now() if self.clock else datetime.now(UTC)

    def write(self, channel: str, entry: dict) -> None:
        line = json.dumps({"at": self.now().isoformat(), **entry}, ensure_ascii=False)
        with open(self.folder / f"{channel}.jsonl", "a", encoding="utf-8") as file:
            file.write(line + "\n")


class _Captured:
    """Pure ASGI middleware: hands the request body and the response to ``record``
    once the response is complete, for one method and path."""

    def __init__(self, app, method: str, path: str, record) -> None:
        self.app, self.method, self.path, self.record = app, method, path, record

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != self.method or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        chunks, status, headers = [], 0, {}

        async def tap_receive():
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def tap_send(message):
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            await send(message)

        await self.app(scope, tap_receive, tap_send)
        request_headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        self.record(b"".join(chunks), status, headers, request_headers)


def sms_provider(log: DeliveryLog, secret: str, token: str, replies_url: str):
    def sent(key: str, message: dict) -> None:
        log.write("sms", {"key": key, "to": message["to"], "template": message["template"],
                          "reference": message["reference"]})

    app = create_sms_provider(secret, token, on_sent=sent)
    relay = httpx.AsyncClient(timeout=10)

    @app.post("/v1/inbound")
    async def inbound(request: Request):
        """A customer's reply reaches the provider, which relays it to the bank, signed."""
        body = await request.json()
        reply = json.dumps({"from": str(body.get("from", "")), "text": str(body.get("text", ""))}).encode()
        stamp = int(time.time())
        answer = await relay.post(replies_url, content=reply, headers={
            "Content-Type": "application/json", "X-Timestamp": str(stamp), "X-Signature": sign(secret, stamp, reply)})
        log.write("replies", {"from": body.get("from", ""), "text": body.get("text", ""),
                              "relayed": answer.status_code})
        return JSONResponse(answer.json(), status_code=answer.status_code)

    return app


def print_vendor(log: DeliveryLog):
    app = create_print_vendor()
    keys: set[str] = set()

    def record(body: bytes, status: int, headers: dict, request_headers: dict) -> None:
        key = request_headers.get("idempotency-key", "")
        if status == 202 and key not in keys:
            keys.add(key)
            log.write("letters", {"key": key, "bytes": len(body)})

    return _Captured(app, "POST", "/v1/letters", record)


class LoggedMailServer(MailServer):
    """The notifier's SMTP sink, writing each first delivery of a Message-ID to the log."""

    def __init__(self, log: DeliveryLog, host: str, port: int) -> None:
        super().__init__(host, port)
        inbox, accept = self.inbox, self.inbox.handle_DATA

        async def handle_data(server, session, envelope):
            before = len(inbox.messages)
            answer = await accept(server, session, envelope)
            if len(inbox.messages) > before:
                message = email.message_from_bytes(envelope.content)
                log.write("email", {"message_id": message.get("Message-ID", ""), "to": message.get("To", ""),
                                    "subject_present": bool(message.get("Subject"))})
            return answer

        inbox.handle_DATA = handle_data


async def serve(args: argparse.Namespace) -> None:
    log = DeliveryLog(Path(args.log), args.clock_file)
    mail = await LoggedMailServer(log, "127.0.0.1", args.smtp_port).serve_here()
    servers = [uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                             timeout_keep_alive=KEEP_ALIVE_SECONDS))
               for app, port in ((sms_provider(log, args.secret, args.token, args.replies_url), args.sms_port),
                                 (print_vendor(log), args.print_port))]
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        mail.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sms-port", type=int, default=8190)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--print-port", type=int, default=8191)
    parser.add_argument("--log", default="var/standins", help="folder of the delivery logs")
    parser.add_argument("--clock-file", default=None, help="the platform's simulated clock, if any")
    parser.add_argument("--secret", default="dev-webhook-secret", help="HMAC key of receipts and replies")
    parser.add_argument("--token", default="dev-provider-token", help="bearer token the notifier presents")
    parser.add_argument("--replies-url", default="http://127.0.0.1:8103/v1/webhooks/sms/replies")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
