from pydantic import Field
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings
from overdue_detector.domain import DelinquencyPolicy, PaymentRule


class DetectorSettings(ServiceSettings):
    """Environment variables start with ``DETECTOR_``."""

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore", frozen=True)
    service_name: str = "overdue-detector"
    http_port: int = 8101
    grace_days: int = Field(default=3, ge=0, le=60, description="days after the due date before an unpaid minimum is past due")
    due_soon_days: int = Field(default=3, ge=0, le=60, description="days before a due date to send PaymentDueSoon")
    bucket_upper_bounds: tuple[int, ...] = Field(
        default=DelinquencyPolicy().bucket_upper_bounds,
        description="highest DPD of M0..M6 as a JSON list; above the last is M7+")
    payment_rule: PaymentRule = Field(
        default=PaymentRule.ISSUED_STATEMENTS,
        description="issued-statements (a payment pays only minimums issued by its value date) or paid-ahead")

    @property
    def policy(self) -> DelinquencyPolicy:
        return DelinquencyPolicy(grace_days=self.grace_days, due_soon_days=self.due_soon_days,
                                 bucket_upper_bounds=self.bucket_upper_bounds, payment_rule=self.payment_rule)
