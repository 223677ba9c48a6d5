"""Stand-ins for the SMTP relay and the print vendor, as real servers.

- ``MailServer``: an aiosmtpd SMTP server that keeps what it received and drops a
  message whose ``Message-ID`` it has already accepted (counted as a duplicate
  attempt, not delivered twice); it can refuse on purpose (``fail_next``).
- ``create_print_vendor``: an HTTP app accepting PDFs under an ``Idempotency-Key``.

Run both: ``python -m notifier.standins.mail_and_print --smtp-port 8025 --print-port 8191``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import uuid
from collections import Counter

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from collections_core.http import KEEP_ALIVE_SECONDS


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.seen: set[str] = set()
        self.stats = Counter()
        self.fail_next = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.stats["failed_on_purpose"] += 1
            return "451 Try again later"
        message = email.message_from_bytes(envelope.content)
        message_id = message.get("Message-ID", "")
        if message_id in self.seen:
            self.stats["duplicate_attempts"] += 1
            return "250 OK (already delivered)"
        self.seen.add(message_id)
        self.messages.append(message)
        return "250 OK"


class MailServer:
    """``start()``/``stop()`` run it on a thread of its own; ``serve_here()`` on the running
    event loop instead, beside HTTP servers, so no message waits for the thread to get
    the interpreter lock back from them."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.inbox = _Inbox()
        self.host, self.port = host, port
        self.controller = Controller(self.inbox, hostname=host, port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    async def serve_here(self) -> asyncio.AbstractServer:
        return await asyncio.get_running_loop().create_server(
            lambda: SMTP(self.inbox, hostname=self.host), host=self.host, port=self.port)


def create_print_vendor() -> FastAPI:
    app = FastAPI(title="stand-in print vendor")
    answers: dict[str, dict] = {}
    letters: list[dict] = []

    @app.post("/v1/letters")
    async def accept(request: Request):
        key = request.headers.get("Idempotency-Key")
        document = await request.body()
        if not key or not document.startswith(b"%PDF"):
            return JSONResponse({"title": "Bad request", "detail": "a PDF and an Idempotency-Key"}, status_code=400)
        if key not in answers:
            answers[key] = {"id": uuid.uuid4().hex}
            letters.append({"key": key, "pdf": document})
        return JSONResponse(answers[key], status_code=202)

    app.state.letters = letters
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Stand-in SMTP relay and print vendor")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--print-port", type=int, default=8191)
    args = parser.parse_args(argv)
    mail = MailServer(port=args.smtp_port)
    mail.start()
    try:
        asyncio.run(uvicorn.Server(uvicorn.Config(create_print_vendor(), host="127.0.0.1", port=args.print_port,
                                                  log_level="warning", timeout_keep_alive=KEEP_ALIVE_SECONDS)).serve())
    finally:
        mail.stop()


if __name__ == "__main__":
    main()
