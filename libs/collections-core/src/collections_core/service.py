"""Composes the runtime for one service: database, codec, consumer, relay, HTTP app.

A service's ``main`` module builds one ``ServiceRuntime`` and asks it for the
FastAPI app; the consumer, the relay and pruning run inside the app's lifespan.
Replicas of a service may share its database: what must happen once at a time
(publishing the outbox, the work between batches, pruning) runs under a lease.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from collections_core import metrics
from collections_core.auth import AuthConfig, TokenVerifier
from collections_core.clock import Clock, FileClock, SystemClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.consumer import BatchHandler, ConsumerRunner, Handler
from collections_core.database import Database
from collections_core.http import SERVER_OPTIONS, install_observability, install_problem_handlers
from collections_core.leases import Lease, this_process
from collections_core.logs import configure_logging, get_logger
from collections_core.migrations import upgrade
from collections_core.outbox import OutboxRelay, waiting_to_publish
from collections_core.retention import Retention
from collections_core.settings import ServiceSettings
from collections_core.storage import outbox
from collections_core.supervision import EXIT_TASK_DIED, Supervisor
from collections_core.unit_of_work import unit_of_work_factory

log = get_logger(__name__)


async def kafka_reachable(bootstrap_servers: str, timeout: float = 1.0) -> bool:
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        return True
    return False


def tune_garbage_collector() -> None:
    """A busy consumer allocates millions of short-lived objects (records, events,
    rows) that reference counting frees at once; with the cyclic collector's default
    thresholds its passes were a fifth of the process's CPU (docs/benchmarks.md).
    What start-up created is frozen out of its scans, and it runs less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, topics: Sequence[str], handlers: Mapping[str, Handler],
                 migrations: Path, clock: Clock | None = None, batch_handlers: Mapping[str, BatchHandler] | None = None,
                 workers: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = (),
                 between_batches: Callable[[ServiceRuntime], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (FileClock(settings.clock_file) if settings.clock_file else SystemClock())
        self.migrations = migrations
        self.database = Database(settings.effective_database_url, service=settings.service_name,
                                 command_timeout=settings.database_statement_timeout_seconds)
        # Whole-portfolio jobs (a day's aging, a day's escalations) run statements far
        # longer than a handler's: their own small pool with their own timeout. Two,
        # because the aging writes one page while it decides the next and reads a third.
        self.batch_database = Database(settings.effective_database_url, pool_size=2, service=settings.service_name,
                                       command_timeout=settings.batch_statement_timeout_seconds)
        self.codec = EventCodec(TypeRegistry.of_contracts(), settings.source)
        holder = this_process()
        self.leases = {name: Lease(self.database, name, holder, settings.lease_ttl_seconds)
                       for name in ("outbox-relay", "between-batches", "retention")}
        self.relay = OutboxRelay(
            self.database, settings.kafka_bootstrap_servers, settings.service_name, self.clock,
            batch_size=settings.relay_batch_size, poll_interval=settings.relay_poll_interval_seconds,
            max_backoff=settings.retry_backoff_max_seconds,
            attempts_before_set_aside=settings.relay_attempts_before_set_aside,
            queue_limit=settings.relay_queue_limit, lease=self.leases["outbox-relay"],
        )
        self.retention = Retention(
            self.database, self.clock, settings.service_name, timedelta(days=settings.retention_days),
            batch_size=settings.retention_batch_size, interval_seconds=settings.retention_interval_seconds,
            lease=self.leases["retention"])
        self.consumer = ConsumerRunner(
            service=settings.service_name, bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.group_id, topics=topics, handlers=handlers, batch_handlers=batch_handlers,
            database=self.database,
            codec=self.codec, clock=self.clock, dead_letter_topic=settings.dead_letter_topic,
            on_commit=self.relay.hand_over, batch_size=settings.consumer_batch_size,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms, fetch_min_bytes=settings.consumer_fetch_min_bytes,
            max_backoff=settings.retry_backoff_max_seconds,
            attempts_before_dead_letter=settings.handler_attempts_before_dead_letter,
            between_batches=(lambda: self.leases["between-batches"].run_while_held(lambda: between_batches(self)))
            if between_batches else None,
        ) if topics else None
        self.unit_of_work = unit_of_work_factory(self.database, self.codec, self.clock, self.relay.hand_over)
        self.batch_unit_of_work = unit_of_work_factory(self.batch_database, self.codec, self.clock,
                                                       self.relay.hand_over)
        self.workers = list(workers)
        self.supervisor = Supervisor(on_failure=self._task_died)
        self._tasks: list[asyncio.Task] = []
        self._worker_tasks: list[asyncio.Task] = []
        self._exiting: asyncio.Task | None = None
        self._exit_on_failure = False  # set when the runtime is its own process's (see app())
        self._stopped = False
        self._oldest_unpublished: tuple[int, float] | None = None  # (outbox id, first seen, monotonic)

    async def start(self) -> None:
        await upgrade(self.database, self.migrations)
        self._tasks.append(self.supervisor.start("outbox-relay", self.relay.run()))
        self._tasks.append(self.supervisor.start("retention", self.retention.run()))
        if self.consumer is not None:
            self._tasks.append(self.supervisor.start("consumer", self._consume()))
        for worker in self.workers:
            self._worker_tasks.append(self.supervisor.start(
                getattr(worker, "__name__", "worker"), worker(self), must_run=False))
        log.info("service started", topics=self.consumer.topics if self.consumer else [])

    def _task_died(self, reason: str) -> None:
        if self._exit_on_failure:
            self._exiting = asyncio.get_running_loop().create_task(self._exit(reason))

    async def _exit(self, reason: str) -> None:
        """Stop what still runs, then leave with a status the platform restarts on."""
        try:
            await asyncio.wait_for(self.stop(), timeout=30)
        except Exception as error:
            log.warning("stop after a task died failed", error=type(error).__name__)
        finally:
            log.error("exiting: a supervised task died", reason=reason, exit_status=EXIT_TASK_DIED)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_TASK_DIED)

    async def _consume(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.consumer.start()
                break
            except Exception as error:
                log.warning("kafka not reachable, consumer will retry", error=type(error).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.retry_backoff_max_seconds)
        await self.consumer.run()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.supervisor.stopping()
        if self.consumer is not None:
            await self.consumer.stop()
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        await self.relay.drain()
        await self.relay.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for lease in self.leases.values():
            try:
                await lease.release()
            except Exception as error:
                log.warning("lease not released; it will expire", lease=lease.name, error=type(error).__name__)
        await self.database.dispose()
        await self.batch_database.dispose()
        log.info("service stopped")

    async def readiness(self) -> dict[str, bool]:
        database_up, kafka_up = await asyncio.gather(
            self.database.ping(), kafka_reachable(self.settings.kafka_bootstrap_servers))
        checks = {"database": database_up, "kafka": kafka_up}
        for name, up in checks.items():
            metrics.DEPENDENCY_UP.labels(self.settings.service_name, name).set(1 if up else 0)
        if self.consumer is not None:
            # Joined: the group gave this member its share (possibly none, when the
            # replicas outnumber the partitions).
            checks["consumer"] = self.consumer.consumer is not None and self.consumer.joined
        checks["relay"] = self.relay.seconds_since_last_round() <= self.settings.readiness_relay_stall_seconds
        age = await self._oldest_unpublished_age() if database_up else None
        checks["outbox"] = age is not None and age <= self.settings.readiness_outbox_age_seconds
        return checks

    async def _oldest_unpublished_age(self) -> float | None:
        """How long the oldest unpublished outbox row has been the oldest, in real
        seconds as seen by these checks (created_at is the service clock's, which a
        simulation moves by days); None when the table cannot be read."""
        try:
            async with self.database.reading() as connection:
                oldest = (await connection.execute(select(outbox.c.id).where(waiting_to_publish())
                                                   .order_by(outbox.c.id).limit(1))).scalar()
        except Exception:
            return None
        now = time.monotonic()
        if oldest is None:
            self._oldest_unpublished = None
            age = 0.0
        else:
            if self._oldest_unpublished is None or self._oldest_unpublished[0] != oldest:
                self._oldest_unpublished = (oldest, now)
            age = now - self._oldest_unpublished[1]
        metrics.OUTBOX_OLDEST_UNPUBLISHED.labels(self.settings.service_name).set(age)
        return age

    def liveness(self) -> str | None:
        """The supervised task whose death makes the service not alive, or None."""
        return self.supervisor.failure

    def app(self, title: str, routers: Sequence[APIRouter] = ()) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            # Under a server's lifespan the runtime owns the process: a dead task ends it.
            self._exit_on_failure = True
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        docs = self.settings.docs_enabled
        application = FastAPI(title=title, lifespan=lifespan, docs_url="/docs" if docs else None,
                              redoc_url="/redoc" if docs else None)
        install_problem_handlers(application)
        install_observability(application, self.settings.service_name, self.readiness, self.liveness)
        for router in routers:
            application.include_router(router)
        application.state.runtime = self
        application.state.verifier = TokenVerifier(AuthConfig.of(self.settings))
        return application


def configure(settings: ServiceSettings) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_json)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve the app until SIGTERM. uvicorn keeps no logging set-up of its own
    (log_config=None): its records go through configure()'s, redaction included."""
    tune_garbage_collector()
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, timeout_graceful_shutdown=20,
                **SERVER_OPTIONS)
