"""Time is an input: every service reads it through one clock.

Production uses the system clock; tests and the simulator drive a controlled
clock so that business days pass in seconds.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ControlledClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a controlled clock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        with self._lock:
            if instant < self._now:
                raise ValueError("a clock does not run backwards")
            self._now = instant.astimezone(UTC)

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += by
            return self._now


class FileClock:
    """The simulator's clock, shared by every process on one machine.

    The simulator owns the file and moves time by writing the new instant (ISO 8601,
    with an offset) to a temporary file and renaming it over this one, so a reader
    never sees half an instant. Services read it on every ``now()``; a stat tells them
    whether it changed, which costs a microsecond rather than a read and a parse. Two
    writes within one tick of the file system's timestamps can look alike to a stat, so
    the file is also re-read at least every ``recheck_seconds`` (of real time).
    """

    def __init__(self, path: str | os.PathLike, recheck_seconds: float = 0.05) -> None:
        self.path = os.fspath(path)
        self.recheck_seconds = recheck_seconds
        self._stamp: tuple[int, int, int] | None = None
        self._read_at = 0.0
        self._now: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
            if stamp != self._stamp or time.monotonic() - self._read_at > self.recheck_seconds:
                with open(self.path) as file:
                    instant = datetime.fromisoformat(file.read().strip())
                if instant.tzinfo is None:
                    raise ValueError(f"{self.path} holds an instant without an offset")
                instant = instant.astimezone(UTC)
                # A clock does not run backwards, even if the file is rewound by mistake.
                if self._now is None or instant > self._now:
                    self._now = instant
                self._stamp, self._read_at = stamp, time.monotonic()
            return self._now

    @staticmethod
    def write(path: str | os.PathLike, instant: datetime) -> None:
        """Move the shared clock (the simulator's side)."""
        if instant.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        path = os.fspath(path)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w") as file:
            file.write(instant.astimezone(UTC).isoformat())
        os.replace(temporary, path)
