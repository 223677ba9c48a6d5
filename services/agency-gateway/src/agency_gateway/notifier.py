"""The notifier's call-permit API, as the gateway calls it for partners' agents.

Partners' calls go through the bank's contact policy like the bank's own, so one
ledger counts every attempt. The gateway authenticates with a bearer token holding
the service role ``agency-gateway``: a configured one, or (local runs and tests)
one it mints from the shared development secret.
"""

from __future__ import annotations

import time

import httpx

from agency_gateway.settings import GatewaySettings
from collections_core.auth import mint_token
from collections_core.http import Problem


class Notifier:
    def __init__(self, settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._client = httpx.AsyncClient(base_url=settings.notifier_url, timeout=settings.notifier_timeout_seconds,
                                         transport=transport)
        self._token: tuple[str, float] | None = None

    def _bearer(self) -> str:
        if self.settings.notifier_token is not None:
            return self.settings.notifier_token.get_secret_value()
        if self._token is None or self._token[1] - time.time() < 60:
            secret = self.settings.auth_jwt_secret
            if secret is None:
                raise Problem(503, "Call permits unavailable", "the gateway has no credentials for the notifier",
                              headers={"Retry-After": "60"})
            ttl = 300
            token = mint_token(secret.get_secret_value(), self.settings.service_name, ["agency-gateway"],
                               ttl_seconds=ttl, audience=self.settings.auth_audience,
                               issuer=self.settings.auth_issuer or "card-collections")
            self._token = (token, time.time() + ttl)
        return self._token[0]

    async def post(self, path: str, body: dict) -> dict:
        try:
            response = await self._client.post(path, json=body, headers={"Authorization": f"Bearer {self._bearer()}"})
        except httpx.HTTPError:
            raise Problem(503, "Call permits unavailable", "the contact-policy service cannot be reached now",
                          headers={"Retry-After": "5"}) from None
        if response.status_code == 200:
            return response.json()
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403):
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = ""
            raise Problem(response.status_code, "Refused by the contact-policy service",
                          detail or "the contact-policy service refused the request")
        raise Problem(503, "Call permits unavailable", "the contact-policy service did not answer the request",
                      headers={"Retry-After": "5"})

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def closed(self) -> bool:
        return self._client.is_closed
