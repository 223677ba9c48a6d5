"""E-mail over SMTP (aiosmtplib).

SMTP has no idempotency key, so the request id becomes the ``Message-ID``: a
resend after a crash carries the same id, which the receiving system (and the
project's stand-in server) uses to drop the copy. Every message carries
``List-Unsubscribe`` (RFC 2369) with one-click unsubscribe (RFC 8058) pointing at
the customer's opt-out link. A 5xx reply is permanent (the contact fails with
it); a 4xx reply or no connection is transient (sent again later).
"""

from __future__ import annotations

import time
from email.message import EmailMessage

import aiosmtplib

from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.metrics import PROVIDER_ERRORS, PROVIDER_LATENCY

MESSAGE_ID_DOMAIN = "notifier.card-collections"


class EmailSender:
    """Keeps up to ``keep`` SMTP connections open between messages, as a mail client
    does: a connection (connect, greeting, EHLO, QUIT) costs the relay and us more than
    the message itself. A kept connection the relay has dropped meanwhile is replaced
    once; the Message-ID makes a message sent again harmless."""

    def __init__(self, host: str, port: int, sender: str, timeout: float, keep: int = 8) -> None:
        self.host, self.port, self.sender, self.timeout, self.keep = host, port, sender, timeout, keep
        self._idle: list[aiosmtplib.SMTP] = []

    def compose(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["Message-ID"] = f"<{message.idempotency_key}@{MESSAGE_ID_DOMAIN}>"
        if message.opt_out_url:
            email["List-Unsubscribe"] = f"<{message.opt_out_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(message.body)
        return email

    async def send(self, message: Outgoing) -> Accepted | Refused:
        email = self.compose(message)
        started = time.perf_counter()
        try:
            await self._deliver(email)
        except aiosmtplib.SMTPRecipientsRefused as error:
            PROVIDER_ERRORS.labels("email", "refused").inc()
            return Refused(f"smtp refused the recipient: {_codes(error)}")
        except aiosmtplib.SMTPResponseException as error:
            PROVIDER_ERRORS.labels("email", f"smtp-{error.code}").inc()
            if 500 <= error.code < 600:
                return Refused(f"smtp {error.code} {error.message}")
            raise ChannelUnavailable(f"smtp {error.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            PROVIDER_ERRORS.labels("email", "connection").inc()
            raise ChannelUnavailable(f"smtp unavailable: {type(error).__name__}") from None
        PROVIDER_LATENCY.labels("email").observe(time.perf_counter() - started)
        return Accepted(email["Message-ID"])

    async def _deliver(self, email: EmailMessage) -> None:
        """On a kept connection if there is one (the next, if the relay dropped it), else on
        a new one."""
        while self._idle:
            try:
                await self._send_on(self._idle.pop(), email)
                return
            except aiosmtplib.SMTPServerDisconnected:
                continue
        await self._send_on(aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout), email)

    async def _send_on(self, connection: aiosmtplib.SMTP, email: EmailMessage) -> None:
        """The connection is kept again only after a message went through on it."""
        try:
            if not connection.is_connected:
                await connection.connect()
            await connection.send_message(email)
        except BaseException:
            connection.close()
            raise
        self._put_back(connection)

    def _put_back(self, connection: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _codes(error: aiosmtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(str(refusal.code) for refusal in error.recipients)
