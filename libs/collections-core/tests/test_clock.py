from datetime import UTC, datetime, timedelta, timezone

import pytest

from collections_core.clock import ControlledClock, SystemClock


def test_system_clock_is_utc_and_moves():
    clock = SystemClock()
    first = clock.now()
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    assert clock.now() >= first


def test_controlled_clock_moves_only_when_told():
    start = datetime(2026, 3, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    clock = ControlledClock(start)
    assert clock.now() == start and clock.now().tzinfo == UTC
    assert clock.advance(timedelta(days=1)) == start + timedelta(days=1)
    clock.set(start + timedelta(days=3))
    assert clock.now() == start + timedelta(days=3)


def test_controlled_clock_never_runs_backwards_or_naive():
    clock = ControlledClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 12, 31, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        ControlledClock(datetime(2026, 1, 1))
