from pydantic import Field
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class DetectorSettings(ServiceSettings):
    """Environment variables start with ``DETECTOR_``."""

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore", frozen=True)
    service_name: str = "overdue-detector"
    http_port: int = 8101
    grace_days: int = Field(default=3, ge=0, le=60, description="days after the due date before an unpaid minimum is past due")
