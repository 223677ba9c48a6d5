"""SMS through the provider's HTTP API (docs: services/notifier/README.md, "SMS provider API").

``POST {base}/v1/messages`` with ``Idempotency-Key: <request id>``: the provider
answers a repeated key with the first answer and sends nothing again, so a
retry after a timeout, or after the notifier died between the provider's
acceptance and its own commit, never reaches the customer twice. 5xx answers,
timeouts and refused connections are retried with exponential backoff and full
jitter; a run of them opens the circuit breaker. A 4xx is the provider saying
this message can never go (bad number, blocked content): the contact fails with
that reason.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx

from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.channels.breaker import CircuitBreaker
from notifier.metrics import PROVIDER_ERRORS, PROVIDER_LATENCY


class SmsProvider:
    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str, *, attempts: int, backoff: float,
                 breaker: CircuitBreaker, callback_url: str | None = None) -> None:
        self.client, self.url, self.token = client, base_url.rstrip("/") + "/v1/messages", token
        self.attempts, self.backoff, self.breaker, self.callback_url = attempts, backoff, breaker, callback_url

    async def send(self, message: Outgoing) -> Accepted | Refused:
        body = {"to": message.to, "text": message.body, "template": message.template,
                "reference": message.idempotency_key}
        if self.callback_url:
            body["callback_url"] = self.callback_url
        for attempt in range(self.attempts):
            if not self.breaker.allows():
                raise ChannelUnavailable("sms circuit open")
            started = time.perf_counter()
            try:
                response = await self.client.post(self.url, json=body, headers={
                    "Idempotency-Key": message.idempotency_key, "Authorization": f"Bearer {self.token}"})
            except (httpx.TimeoutException, httpx.TransportError) as error:
                kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
            else:
                PROVIDER_LATENCY.labels("sms").observe(time.perf_counter() - started)
                if response.status_code < 500 and response.status_code != 429:
                    self.breaker.succeeded()
                    if response.is_success:
                        return Accepted(str(response.json()["id"]))
                    return Refused(f"provider refused: HTTP {response.status_code} {_detail(response)}".strip())
                kind = f"http-{response.status_code}"
            PROVIDER_ERRORS.labels("sms", kind).inc()
            self.breaker.failed()
            if attempt + 1 < self.attempts:
                # Full jitter: many notifier replicas retrying a recovering provider do not arrive together.
                await asyncio.sleep(random.uniform(0, self.backoff * 2**attempt))
        raise ChannelUnavailable(f"sms provider unavailable after {self.attempts} attempts ({kind})")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:200]
    except ValueError:
        return ""
