from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Environment variables start with ``GATEWAY_``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)
    service_name: str = "agency-gateway"
    http_port: int = 8104
