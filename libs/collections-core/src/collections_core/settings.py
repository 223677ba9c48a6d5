"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment, e.g. ``DETECTOR_DATABASE_URL`` for the overdue-detector."""

    model_config = SettingsConfigDict(env_prefix="CC_", extra="ignore", frozen=True)

    service_name: str
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; sqlite:///path or postgresql://...; empty means var/<service>.db",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    docs_enabled: bool = Field(default=True, description="serve /docs and /redoc (/openapi.json is always served)")
    consumer_group: str = Field(default="", description="empty means the service name")
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    consumer_fetch_max_wait_ms: int = Field(
        default=50, ge=1, le=30_000,
        description="longest the broker holds a fetch for new records (decision 0008); bounds the wait of a record "
                    "that lands on a partition the fetch in flight left out")
    consumer_fetch_min_bytes: int = Field(
        default=16_384, ge=1, le=52_428_800,
        description="the broker answers a fetch once this much is waiting, or after the max wait (decision 0015): "
                    "records that trickle in are taken together, a batch per wait, instead of a batch each")
    database_statement_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest one statement of an event handler or API call may run (PostgreSQL)")
    batch_statement_timeout_seconds: float = Field(
        default=900.0, gt=0, description="longest one statement of a whole-portfolio batch job may run (PostgreSQL)")
    relay_batch_size: int = Field(default=2_000, ge=1, le=50_000)
    relay_poll_interval_seconds: float = Field(default=0.5, gt=0)
    relay_attempts_before_set_aside: int = Field(
        default=5, ge=1, description="broker refusals (too large, unknown topic, not authorised) before a row is set aside")
    relay_queue_limit: int = Field(
        default=250_000, ge=1, description="committed rows waiting in memory; beyond it the relay reads them from the table")
    retention_days: float = Field(
        default=35.0, gt=0, description="age after which published outbox rows and inbox ids are pruned; "
                                        "keep it longer than the topics' retention")
    retention_interval_seconds: float = Field(default=3_600.0, gt=0, description="how often pruning runs")
    retention_batch_size: int = Field(default=5_000, ge=1, description="rows deleted per pruning transaction")
    lease_ttl_seconds: float = Field(
        default=15.0, gt=0, description="how long a replica's lease (relay, between-batches work, pruning) "
                                        "outlives its last renewal; a dead replica's work resumes elsewhere after it")
    retry_backoff_max_seconds: float = Field(default=10.0, gt=0)
    handler_attempts_before_dead_letter: int = Field(default=3, ge=1)
    readiness_relay_stall_seconds: float = Field(
        default=60.0, gt=0, description="/readyz fails when the outbox relay has not finished a round for this long")
    readiness_outbox_age_seconds: float = Field(
        default=120.0, gt=0, description="/readyz fails when the oldest unpublished outbox row has waited this long")
    auth_jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 shared secret for bearer tokens (local runs and tests)")
    auth_jwt_public_key: str | None = Field(default=None, description="PEM public key for RS/ES/EdDSA tokens")
    auth_jwks_url: str | None = Field(default=None, description="the identity provider's JWKS URL")
    auth_audience: str = "card-collections"
    auth_issuer: str = Field(default="card-collections", description="expected iss; empty accepts any")
    auth_roles_claim: str = Field(default="roles", description="claim holding roles; dotted for nested claims")
    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    clock_file: str = Field(
        default="", description="follow the simulator's clock in this file instead of the system clock")
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def group_id(self) -> str:
        return self.consumer_group or self.service_name

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.service_name}.dlq.v1"

    @property
    def source(self) -> str:
        return f"/card-collections/{self.service_name}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///var/{self.service_name}.db"
