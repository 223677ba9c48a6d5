from pydantic import Field
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings
from overdue_detector.domain import DelinquencyPolicy


class DetectorSettings(ServiceSettings):
    """Environment variables start with ``DETECTOR_``."""

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore", frozen=True)
    service_name: str = "overdue-detector"
    http_port: int = 8101
    grace_days: int = Field(default=3, ge=0, le=60, description="days after the due date before an unpaid minimum is past due")
    due_soon_days: int = Field(default=3, ge=0, le=60, description="days before a due date to send PaymentDueSoon")

    @property
    def policy(self) -> DelinquencyPolicy:
        return DelinquencyPolicy(grace_days=self.grace_days, due_soon_days=self.due_soon_days)
