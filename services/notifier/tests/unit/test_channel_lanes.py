"""A slow channel does not hold another channel's messages: each has its own lanes
(decision 0067). Orchestration only; the channels are in-process stand-ins."""

import asyncio

from notifier.channels import Accepted, Outgoing
from notifier.crypto import PiiCipher
from notifier.dispatch import Dispatcher
from notifier.settings import NotifierSettings
from notifier.templates import Catalogue


class _Held:
    """A channel whose sends wait until the test lets them go."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.started = 0

    async def send(self, message: Outgoing) -> Accepted:
        self.started += 1
        await self.released.wait()
        return Accepted(f"held-{message.idempotency_key}")


class _Quick:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Outgoing) -> Accepted:
        self.sent.append(message.idempotency_key)
        return Accepted(f"quick-{message.idempotency_key}")


def _message(n: int, channel: str) -> tuple[dict, Outgoing]:
    return {"request_id": f"{channel}-{n}"}, Outgoing(idempotency_key=f"{channel}-{n}", channel=channel,
                                                        to="x", body="b")


async def test_a_channel_whose_lanes_are_all_busy_leaves_the_others_free():
    settings = NotifierSettings(dispatch_concurrency=2)
    held, quick = _Held(), _Quick()
    dispatcher = Dispatcher(settings, PiiCipher.from_settings(settings.pii_keys, settings.pii_active_key,
                                                              settings.pii_lookup_key),
                            Catalogue(), {"email": held, "letter": quick}, settings.packs())
    # The slow channel's messages come first and outnumber the lanes.
    outgoing = [_message(n, "email") for n in range(5)] + [_message(n, "letter") for n in range(3)]
    round_ = asyncio.create_task(dispatcher.hand_over(outgoing))
    for _ in range(100):
        await asyncio.sleep(0)
    assert held.started == 2, "the slow channel uses its own two lanes"
    assert quick.sent == ["letter-0", "letter-1", "letter-2"], "the other channel's messages went meanwhile"
    assert not round_.done()
    held.released.set()
    results, unavailable = await asyncio.wait_for(round_, timeout=5)
    assert not unavailable
    assert [answer.provider_message_id for _, answer in results] == (
        [f"held-email-{n}" for n in range(5)] + [f"quick-letter-{n}" for n in range(3)])
