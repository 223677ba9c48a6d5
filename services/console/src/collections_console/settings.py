"""What the console can be configured with; environment variables start with ``CONSOLE_``."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", frozen=True)

    service_name: str = "console"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8105, ge=1, le=65535)
    router_url: str = "http://127.0.0.1:8102"
    notifier_url: str = "http://127.0.0.1:8103"
    gateway_url: str = "http://127.0.0.1:8104"
    upstream_timeout_seconds: float = Field(default=15.0, gt=0)
    auth_jwt_secret: SecretStr | None = Field(
        default=None, description="the platform's HS256 dev secret; when set, the development sign-in is offered")
    auth_audience: str = "card-collections"
    auth_issuer: str = "card-collections"
    token_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=24 * 3600, description="dev tokens' lifetime")
    session_secret: SecretStr | None = Field(
        default=None, description="signs the session cookie; derived from the dev secret when unset")
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    session_https_only: bool = False
    oidc_metadata_url: str | None = Field(
        default=None, description="the identity provider's .well-known/openid-configuration URL")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str | None = Field(default=None,
                                         description="this console's /auth/callback, as the IdP knows it")
    oidc_scope: str = "openid profile email"
    oidc_roles_claim: str = Field(default="roles", description="claim holding roles; dotted for nested claims")
    script_pack: str = Field(default="CN", pattern=r"^[A-Z]{2}$",
                             description="which call scripts (scripts/<pack>.yaml) agents read")
    default_language: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    clock_file: str = Field(default="", description="follow the simulator's clock in this file")
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def dev_sign_in(self) -> bool:
        """Production verifies the IdP's tokens by public key and never holds an HS256 secret."""
        return self.auth_jwt_secret is not None

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_metadata_url and self.oidc_client_id)

    def cookie_secret(self) -> str:
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        if self.auth_jwt_secret is None:
            raise ValueError("set CONSOLE_SESSION_SECRET (or the dev CONSOLE_AUTH_JWT_SECRET)")
        # A key of its own, so a session cookie never verifies as a token or the reverse.
        return hmac.new(self.auth_jwt_secret.get_secret_value().encode(), b"console-session",
                        hashlib.sha256).hexdigest()
