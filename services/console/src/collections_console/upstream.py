"""The services' APIs, called with the signed-in user's bearer token.

One httpx client per service. A problem answer (RFC 9457) becomes an
`UpstreamProblem` the page shows inline in the form that caused it; a service that
cannot be reached is a 503 problem of the same shape."""

from __future__ import annotations

from typing import Any

import httpx


class UpstreamProblem(Exception):
    def __init__(self, status: int, title: str, detail: str, extra: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra or {}


class ServiceApi:
    def __init__(self, name: str, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None):
        self.name = name
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def call(self, method: str, path: str, token: str, *, json: Any = None, params: dict | None = None,
                   idempotency_key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self.client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as error:
            raise UpstreamProblem(503, "Service unavailable", f"{self.name} did not answer ({type(error).__name__})")
        if response.status_code >= 400:
            raise _problem(self.name, response)
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


def _problem(name: str, response: httpx.Response) -> UpstreamProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    if isinstance(detail, list):  # a validation answer lists each field that is wrong
        detail = "; ".join(f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg', '')}"
                           for item in detail if isinstance(item, dict))
    extra = {k: v for k, v in body.items() if k not in ("type", "title", "status", "detail", "instance")}
    return UpstreamProblem(response.status_code, body.get("title") or f"{name} answered {response.status_code}",
                           str(detail or ""), extra)


class Upstreams:
    """The three services the console reads and writes through."""

    def __init__(self, router: ServiceApi, notifier: ServiceApi, gateway: ServiceApi) -> None:
        self.router, self.notifier, self.gateway = router, notifier, gateway

    @classmethod
    def of(cls, settings) -> Upstreams:
        timeout = settings.upstream_timeout_seconds
        return cls(ServiceApi("case-router", settings.router_url, timeout),
                   ServiceApi("notifier", settings.notifier_url, timeout),
                   ServiceApi("agency-gateway", settings.gateway_url, timeout))

    async def close(self) -> None:
        for api in (self.router, self.notifier, self.gateway):
            await api.close()
