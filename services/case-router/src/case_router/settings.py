from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from case_router.domain.strategy import DEFAULT_STRATEGY, Strategy, load_strategy
from collections_core.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    """Environment variables start with ``ROUTER_``."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", frozen=True)
    service_name: str = "case-router"
    http_port: int = 8102
    strategy_file: Path = Field(default=DEFAULT_STRATEGY, description="the collection strategy (YAML)")
    task_lease_seconds: int = Field(default=900, ge=10, le=86_400,
                                    description="how long a claimed task stays with its agent before it returns to the queue")
    gauges_refresh_seconds: float = Field(default=15.0, gt=0, description="how often the open-case gauges are re-read")

    def strategy(self) -> Strategy:
        """Validated at start-up: a broken strategy file stops the service with file:line:field errors."""
        return load_strategy(self.strategy_file)
