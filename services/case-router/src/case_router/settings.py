from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    """Environment variables start with ``ROUTER_``."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", frozen=True)
    service_name: str = "case-router"
    http_port: int = 8102
