"""Composition root of the notifier: settings → cipher, catalogue (linted), packs →
handlers, dispatcher with its channels → runtime → HTTP app."""

from __future__ import annotations

from pathlib import Path

import httpx

from collections_core.clock import Clock
from collections_core.service import ServiceRuntime, configure, serve
from notifier.api import router
from notifier.channels.breaker import CircuitBreaker
from notifier.channels.email import EmailSender
from notifier.channels.letters import PrintVendor
from notifier.channels.sms import SmsProvider
from notifier.crypto import PiiCipher
from notifier.dispatch import Dispatcher
from notifier.handlers import TOPICS, Notifier
from notifier.rotation import key_rotation
from notifier.settings import NotifierSettings
from notifier.staff_api import router as staff_router
from notifier.templates import Catalogue


class TemplatesInvalid(Exception):
    """The template catalogue fails its lint: the notifier does not start with it."""


def build_runtime(settings: NotifierSettings, topics: list[str] = TOPICS, clock: Clock | None = None
                  ) -> ServiceRuntime:
    """The notifier's runtime; tests pass their own topics and clock."""
    cipher = PiiCipher.from_settings(settings.pii_keys, settings.pii_active_key, settings.pii_lookup_key)
    catalogue = Catalogue()
    findings = catalogue.lint()
    if findings:
        raise TemplatesInvalid("; ".join(f"{f.template}: {f.rule} {f.detail}" for f in findings))
    # One pool for the providers' HTTP APIs (SMS and print), as many keep-alive connections as
    # requests in flight: each channel has dispatch_concurrency lanes.
    lanes = 2 * settings.dispatch_concurrency
    client = httpx.AsyncClient(timeout=settings.sms_provider_timeout_seconds,
                               limits=httpx.Limits(max_connections=lanes, max_keepalive_connections=lanes))
    channels = {
        "sms": SmsProvider(client, settings.sms_provider_url, settings.sms_provider_token,
                           attempts=settings.sms_attempts, backoff=settings.sms_backoff_seconds,
                           breaker=CircuitBreaker("sms", settings.sms_breaker_failures,
                                                  settings.sms_breaker_reset_seconds),
                           callback_url=settings.receipts_url if settings.sms_receipts else None),
        "email": EmailSender(settings.smtp_host, settings.smtp_port, settings.email_sender,
                             settings.smtp_timeout_seconds, keep=settings.dispatch_concurrency),
        "letter": PrintVendor(client, settings.print_vendor_url, Path(settings.letter_font_path)),
    }
    dispatcher = Dispatcher(settings, cipher, catalogue, channels, settings.packs())
    notifier = Notifier(settings, cipher, catalogue, dispatcher)

    async def dispatch_contacts(runtime: ServiceRuntime) -> None:
        try:
            await dispatcher.run(runtime)
        finally:
            await client.aclose()
            await channels["email"].close()

    rotate_pii_keys = key_rotation(cipher, settings.rotation_batch_size, settings.retry_backoff_max_seconds)
    runtime = ServiceRuntime(settings, topics=topics, handlers=notifier.handlers(),
                             batch_handlers=notifier.batch_handlers(),
                             migrations=Path(__file__).parent / "migrations", clock=clock,
                             workers=[dispatch_contacts, rotate_pii_keys])
    runtime.notifier = notifier
    runtime.cipher = cipher
    runtime.dispatcher = dispatcher
    return runtime


def create_app(settings: NotifierSettings | None = None, runtime: ServiceRuntime | None = None):
    settings = settings or NotifierSettings()
    runtime = runtime or build_runtime(settings)
    app = runtime.app("notifier", routers=[router, staff_router])
    app.state.notifier = runtime.notifier
    return app


def run() -> None:
    settings = NotifierSettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
