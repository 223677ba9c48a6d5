from pydantic import Field
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Environment variables start with ``NOTIFIER_``."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)
    service_name: str = "notifier"
    http_port: int = 8103
    sms_provider_url: str = Field(default="http://127.0.0.1:8190/v1/messages",
                                  description="POST endpoint of the SMS provider API")
    sms_provider_timeout_seconds: float = Field(default=5.0, gt=0)
    dispatch_interval_seconds: float = Field(default=0.2, gt=0)
