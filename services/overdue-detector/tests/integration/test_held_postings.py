"""Postings may arrive before their account (issue 7, item 12): they are held and
applied when AccountOpened arrives, and a replay of every core-banking topic from
offset 0 ends in the same states as the events taken in order. Real broker, SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from overdue_detector.main import build_runtime
from overdue_detector.settings import DetectorSettings

pytestmark = pytest.mark.integration

DLQ = "overdue-detector.dlq.v1"


async def _postings(detector, account: str, variant: int) -> None:
    await detector.statement(account, f"S0-{account}", date(2026, 10, 1), date(2026, 10, 25), 50_000)
    await detector.statement(account, f"S1-{account}", date(2026, 10, 31), date(2026, 11, 24), 40_000)
    await detector.pay(account, f"P1-{account}", 30_000, date(2026, 10, 20))
    await detector.pay(account, f"P2-{account}", 50_000 + 5_000 * variant, date(2026, 11, 10))
    await detector.pay(account, f"P3-{account}", 20_000, date(2026, 11, 20))
    if variant != 1:
        await detector.reverse(account, f"P3-{account}", date(2026, 11, 23))


async def _views(detector, accounts: list[str]) -> list[str]:
    """Each account's public view with its id taken out, so accounts can be compared."""
    views = []
    async with detector.http() as client:
        for account in accounts:
            response = await client.get(f"/v1/accounts/{account}")
            assert response.status_code == 200, (account, response.text)
            views.append(json.dumps(response.json(), sort_keys=True).replace(account, "ACCOUNT"))
    return views


async def _second_database(request, database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return database_url.replace("service.db", "replay.db")
    server = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return server.dsn(name)


async def test_postings_before_their_account_and_a_replay_from_offset_0(detector, request, database_url, kafka):
    in_order = [detector.account(f"IN{v}") for v in range(3)]
    held = [detector.account(f"HELD{v}") for v in range(3)]
    for variant, account in enumerate(in_order):
        await detector.open(account)
        await detector.settle()
        await _postings(detector, account, variant)
    for variant, account in enumerate(held):
        await _postings(detector, account, variant)  # every posting before its account
    await detector.settle()
    await detector.close(date(2026, 10, 29))  # aged while the held accounts are not open yet
    await detector.settle()
    for account in held:
        await detector.open(account)
    await detector.settle()
    await detector.close(date(2026, 11, 28))
    await detector.settle()

    expected = await _views(detector, in_order)
    assert await _views(detector, held) == expected
    assert json.loads(expected[0])["delinquency"]["dpd"] == 4, "the scenario ends delinquent"
    for account in in_order + held:
        assert await detector.events(account, topic=DLQ) == []

    # A second detector, with its own database and group, replays every topic from offset 0:
    # the held accounts' postings come long before their AccountOpened on the log.
    settings = DetectorSettings(
        database_url=await _second_database(request, database_url), kafka_bootstrap_servers=kafka.bootstrap,
        consumer_group=f"replay-{detector.run}", relay_poll_interval_seconds=0.1, consumer_batch_size=7,
        retry_backoff_max_seconds=1, auth_jwt_secret=detector.runtime.settings.auth_jwt_secret)
    replay = build_runtime(settings, topics=list(detector.topics.values()))
    await replay.start()
    try:
        replayed = type(detector)(replay, detector.bootstrap, detector.topics, detector.run, sent=detector.sent)
        await replayed.settle(timeout=90)
        assert await _views(replayed, in_order + held) == expected * 2
    finally:
        await replay.stop()
    for account in in_order + held:
        assert await detector.events(account, topic=DLQ) == []
