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


def test_a_file_clock_follows_the_instant_the_simulator_writes(tmp_path):
    from datetime import UTC, datetime, timedelta, timezone

    from collections_core.clock import FileClock

    path = tmp_path / "clock"
    start = datetime(2026, 3, 8, 6, 59, tzinfo=timezone(timedelta(hours=-5)))
    FileClock.write(path, start)
    clock = FileClock(path)
    assert clock.now() == start and clock.now().tzinfo == UTC
    FileClock.write(path, start + timedelta(days=1))
    assert clock.now() == start + timedelta(days=1)
    # A rewound file does not turn the clock back.
    FileClock.write(path, start)
    assert clock.now() == start + timedelta(days=1)


def test_a_file_clock_refuses_an_instant_without_an_offset(tmp_path):
    import pytest

    from collections_core.clock import FileClock

    path = tmp_path / "clock"
    path.write_text("2026-03-08T06:59:00")
    with pytest.raises(ValueError, match="without an offset"):
        FileClock(path).now()
