"""Background work is supervised: a dead loop never hides behind a live HTTP server.

The consumer, the outbox relay and a service's workers run as tasks beside the
HTTP server. If one of them dies (raises, or the consumer or relay returns while
the service is not stopping), the supervisor logs why, ``/healthz`` answers 503
from then on, and — when the service runs as its own process — the runtime stops
gracefully and the process exits with ``EXIT_TASK_DIED`` so that the platform
restarts it. Restarting a task in place was rejected: a loop that died from a bug
would die again, and a fresh process also rebuilds every connection and cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

from collections_core.logs import get_logger

log = get_logger(__name__)

EXIT_TASK_DIED = 70  # EX_SOFTWARE


class Supervisor:
    def __init__(self, on_failure: Callable[[str], None] = lambda reason: None) -> None:
        self.failure: str | None = None  # the name of the first task that died
        self.on_failure = on_failure
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    def start(self, name: str, work: Coroutine, *, must_run: bool = True) -> asyncio.Task:
        """Run ``work`` as a task; ``must_run`` tasks may not return before stop()."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(lambda done: self._finished(done, must_run))
        self._tasks.append(task)
        return task

    def stopping(self) -> None:
        """From now on tasks end because they are told to."""
        self._stopping = True

    def _finished(self, task: asyncio.Task, must_run: bool) -> None:
        if self._stopping or task.cancelled():
            return
        error = task.exception()
        if error is None and not must_run:
            return
        reason = f"{type(error).__name__}: {error}"[:300] if error else "returned while the service runs"
        log.error("supervised task died", task=task.get_name(), reason=reason, exc_info=error)
        if self.failure is None:
            self.failure = task.get_name()
            self.on_failure(f"{task.get_name()}: {reason}")
