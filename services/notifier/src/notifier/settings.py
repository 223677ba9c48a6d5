"""What the notifier can be configured with (environment variables start with ``NOTIFIER_``)."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings
from notifier.domain.policy import PACKS, Pack

# Development keys only: production sets NOTIFIER_PII_KEYS / NOTIFIER_PII_LOOKUP_KEY from its secret store.
_DEV_KEY = "ZGV2LW9ubHktcGlpLWtleS0wMDAwMDAwMDAwMDAwMDA="
_DEV_LOOKUP = "ZGV2LW9ubHktbG9va3VwLWtleS0wMDAwMDAwMDAwMDA="


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)
    service_name: str = "notifier"
    http_port: int = 8103

    # Contact policy
    default_pack: str = Field(default="CN", description="pack for a portfolio not named in portfolio_packs")
    portfolio_packs: dict[str, str] = Field(default_factory=dict, description="portfolio → CN | US | UK")
    pack_overrides: dict[str, dict] = Field(
        default_factory=dict, description='per pack, fields to change, e.g. {"CN": {"allowed_until": "20:00"}}')
    contact_ttl_hours: float = Field(default=72, gt=0, description="expiry of a request that names none")

    # PII at rest
    pii_keys: dict[str, str] = Field(default_factory=lambda: {"dev-1": _DEV_KEY},
                                     description="key id → base64 AES-256 key")
    pii_active_key: str = "dev-1"
    pii_lookup_key: str = _DEV_LOOKUP
    rotation_batch_size: int = Field(default=500, ge=1)

    # Dispatch
    dispatch_interval_seconds: float = Field(default=0.2, gt=0)
    dispatch_batch_size: int = Field(default=1000, ge=1)
    dispatch_concurrency: int = Field(default=8, ge=1, le=256,
                                      description="requests in flight at once to each channel's provider")
    dispatch_claim_seconds: float = Field(default=30, gt=0, description="how long a round holds the requests it "
                                          "claimed; a crashed round's are sent again (same keys) after it")
    dispatch_on_arrival: bool = Field(default=True, description="a request the policy allows when it arrives is "
                                      "rendered and leased in the consumer's transaction and handed to the "
                                      "dispatcher once it commits, instead of being claimed and judged again")

    # SMS provider
    sms_provider_url: str = Field(default="http://127.0.0.1:8190", description="base URL of the SMS provider API")
    sms_provider_token: str = "dev-provider-token"
    sms_batch_size: int = Field(default=1, ge=1, le=500, description="messages per request to the provider's "
                                "batch endpoint (POST /v1/message-batches); 1: one request per message, for a "
                                "provider without one")
    sms_provider_timeout_seconds: float = Field(default=5.0, gt=0)
    sms_attempts: int = Field(default=4, ge=1, description="tries per message before it waits for the next round")
    sms_backoff_seconds: float = Field(default=0.2, gt=0)
    sms_breaker_failures: int = Field(default=5, ge=1, description="consecutive failures that open the circuit")
    sms_breaker_reset_seconds: float = Field(default=10.0, gt=0)
    sms_receipts: bool = Field(default=True, description="ask the provider for delivery receipts")
    sms_receipts_url: str = Field(default="", description="where the provider posts receipts; empty: "
                                  "http://<http_host>:<http_port>/v1/webhooks/sms/receipts")
    sms_webhook_secret: str = Field(default="dev-webhook-secret", description="HMAC key of receipts and replies")
    webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # Email and letters
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    email_sender: str = "collections@bank.example"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    print_vendor_url: str = "http://127.0.0.1:8191"
    letter_font_path: str = Field(default="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                                  description="a TrueType font with CJK glyphs (make tools installs this one)")

    # The bank's own facts in every message
    bank_name: str = "Example Bank"
    bank_hotline: str = "95555"
    bank_address: str = "1 Example Road, Shanghai"
    dispute_contact: str = "95555 ext. 2"
    opt_out_base_url: str = "https://bank.example/opt-out"

    @model_validator(mode="after")
    def _packs_exist(self) -> NotifierSettings:
        for name in [self.default_pack, *self.portfolio_packs.values(), *self.pack_overrides]:
            if name not in PACKS:
                raise ValueError(f"unknown contact-policy pack {name!r}; known: {sorted(PACKS)}")
        self.packs()  # overrides must name real fields with valid values
        return self

    def packs(self) -> dict[str, Pack]:
        return {name: _override(pack, self.pack_overrides.get(name, {})) for name, pack in PACKS.items()}

    def pack_for(self, portfolio: str) -> str:
        return self.portfolio_packs.get(portfolio, self.default_pack)

    @property
    def receipts_url(self) -> str:
        return self.sms_receipts_url or f"http://{self.http_host}:{self.http_port}/v1/webhooks/sms/receipts"

    @property
    def contact_ttl(self) -> timedelta:
        return timedelta(hours=self.contact_ttl_hours)

    @property
    def bank_facts(self) -> dict[str, str]:
        return {"bank_name": self.bank_name, "bank_hotline": self.bank_hotline, "bank_address": self.bank_address,
                "dispute_contact": self.dispute_contact}


def _override(pack: Pack, changes: dict) -> Pack:
    fields = {f.name: f for f in dataclasses.fields(Pack)}
    converted = {}
    for name, value in changes.items():
        if name not in fields or name == "name":
            raise ValueError(f"pack field {name!r} cannot be configured")
        if name in ("allowed_from", "allowed_until"):
            value = time.fromisoformat(value)
        elif name == "pause_after_conversation":
            value = timedelta(days=value)
        elif name == "blocking_holds":
            value = frozenset(value)
        converted[name] = value
    return dataclasses.replace(pack, **converted)
