"""What the agency-gateway lets you configure (environment variables start with ``GATEWAY_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)
    service_name: str = "agency-gateway"
    http_port: int = 8104

    placement_term_days: int = Field(default=90, ge=1, le=3650, description="longest a partner keeps a case")
    challenger_percent: int = Field(default=10, ge=0, le=100, description="share of placements to a challenger")
    recovery_window_days: int = Field(default=180, ge=1, description="trailing window of the recovery rate")
    expiry_check_seconds: float = Field(default=60.0, gt=0, description="how often expired placements are recalled")

    pii_keys: SecretStr | None = Field(
        default=None, description="AES-256-GCM keys as 'kid:base64key,kid:base64key'; the first encrypts")

    partner_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    partner_token_issuer: str = "card-collections/agency-gateway"
    partner_token_audience: str = "agency-gateway-partner-api"
    signing_key_check_seconds: float = Field(
        default=30.0, gt=0, description="how often an instance re-reads the signing keys (rotation elsewhere)")

    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_cap_seconds: float = Field(default=3600.0, gt=0)
    webhook_concurrency: int = Field(
        default=16, ge=1, description="most webhook posts in flight at once, and the HTTP connections kept for them")

    notifier_url: str = Field(default="http://127.0.0.1:8103", description="the notifier's call-permit API")
    notifier_token: SecretStr | None = Field(default=None, description="bearer token with role agency-gateway")
    notifier_timeout_seconds: float = Field(default=5.0, gt=0)

    rate_limit_lease_percent: int = Field(
        default=5, ge=1, le=100,
        description="share of a partner's per-second limit a replica takes from the shared count at once")

    partner_seed_file: str | None = Field(default=None, description="YAML partners for local runs")
