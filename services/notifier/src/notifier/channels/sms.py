"""SMS through the provider's HTTP API (docs: services/notifier/README.md, "SMS provider API").

``POST {base}/v1/messages`` with ``Idempotency-Key: <request id>`` sends one
message; ``POST {base}/v1/message-batches`` sends up to 500, each under its own
``idempotency_key``. The provider answers a repeated key with the first answer
and sends nothing again, so a retry after a timeout, or after the notifier died
between the provider's acceptance and its own commit, never reaches the customer
twice. 5xx answers, 429, timeouts and refused connections are retried with
exponential backoff and full jitter; a run of them opens the circuit breaker. A
4xx is the provider saying a message can never go (bad number, blocked content):
the contact fails with that reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import httpx

from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.channels.breaker import CircuitBreaker
from notifier.metrics import PROVIDER_ERRORS, PROVIDER_LATENCY


class SmsProvider:
    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str, *, attempts: int, backoff: float,
                 breaker: CircuitBreaker, callback_url: str | None = None) -> None:
        base = base_url.rstrip("/")
        self.client, self.token = client, token
        self.url, self.batch_url = base + "/v1/messages", base + "/v1/message-batches"
        self.attempts, self.backoff, self.breaker, self.callback_url = attempts, backoff, breaker, callback_url

    async def send(self, message: Outgoing) -> Accepted | Refused:
        response = await self._post(self.url, self._body(message), {"Idempotency-Key": message.idempotency_key})
        if response.is_success:
            return Accepted(str(response.json()["id"]))
        return Refused(f"provider refused: HTTP {response.status_code} {_detail(response)}".strip())

    async def send_many(self, messages: Sequence[Outgoing]) -> list[Accepted | Refused]:
        """Several messages in one request, answered one by one in the given order."""
        if len(messages) == 1:
            return [await self.send(messages[0])]
        response = await self._post(self.batch_url, {"messages": [
            {**self._body(message), "idempotency_key": message.idempotency_key} for message in messages]}, {})
        if not response.is_success:
            refused = Refused(f"provider refused the batch: HTTP {response.status_code} {_detail(response)}")
            return [refused] * len(messages)
        answers = {answer["idempotency_key"]: answer for answer in response.json()["results"]}
        results: list[Accepted | Refused] = []
        for message in messages:
            answer = answers[message.idempotency_key]
            results.append(Accepted(str(answer["id"])) if answer["http_status"] < 300 else Refused(
                f"provider refused: HTTP {answer['http_status']} {str(answer.get('detail', ''))[:200]}".strip()))
        return results

    def _body(self, message: Outgoing) -> dict:
        body = {"to": message.to, "text": message.body, "template": message.template,
                "reference": message.idempotency_key}
        if self.callback_url:
            body["callback_url"] = self.callback_url
        return body

    async def _post(self, url: str, body: dict, headers: dict) -> httpx.Response:
        """The provider's answer when it is not a transient failure; after the last
        attempt, ChannelUnavailable."""
        for attempt in range(self.attempts):
            if not self.breaker.allows():
                raise ChannelUnavailable("sms circuit open")
            started = time.perf_counter()
            try:
                response = await self.client.post(url, json=body, headers={
                    **headers, "Authorization": f"Bearer {self.token}"})
            except (httpx.TimeoutException, httpx.TransportError) as error:
                kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
            else:
                PROVIDER_LATENCY.labels("sms").observe(time.perf_counter() - started)
                if response.status_code < 500 and response.status_code != 429:
                    self.breaker.succeeded()
                    return response
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
    except (ValueError, AttributeError):
        return ""
