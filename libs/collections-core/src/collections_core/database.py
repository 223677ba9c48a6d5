"""One async SQLAlchemy engine per service, on SQLite (local default) or PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from collections_core import metrics

# Re-exported: callers written before the shared classifier import it from here.
from collections_core.transient import is_transient  # noqa: F401


def async_url(url: str) -> str:
    """Accept plain ``sqlite://`` / ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:// or postgresql://")


# Execution option that marks a connection as Database.reading()'s.
_READ_ONLY = "collections_read_only"


class Database:
    """``hide_parameters``: a statement's bound values (a customer's name, phone) never
    appear in SQLAlchemy's error messages or logs, which free-text redaction could miss."""

    def __init__(self, url: str, pool_size: int = 5, command_timeout: float = 30.0, service: str = "") -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(self.url, connect_args={"timeout": 30},
                                                           hide_parameters=True)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
            # An in-memory database is one connection's own: nobody to queue behind.
            self._writers = _Writers(database) if database and database != ":memory:" else None
        else:
            self._writers = None
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                pool_timeout=10, connect_args={"timeout": 5, "command_timeout": command_timeout},
                hide_parameters=True,
            )
        if service:
            _StatementTimer(service).listen(self.engine.sync_engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._writers.turn() if self._writers else nullcontext(), self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only. On SQLite it begins a deferred transaction, so
        it reads the last committed state at once instead of queueing for the write
        lock behind a long batch transaction (WAL readers never wait)."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{_READ_ONLY: True})
            yield connection

    async def ping(self) -> bool:
        try:
            async with self.reading() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


class _StatementTimer:
    """Feeds cc_database_statement_seconds: the SRE's "database latency", one
    observation per statement SQLAlchemy executes (the runtime's bulk COPY and
    executemany on the driver are timed as part of their handler's batch instead)."""

    _OPERATIONS = ("select", "insert", "update", "delete")

    def __init__(self, service: str) -> None:
        self._children = {op: metrics.DATABASE_STATEMENT_SECONDS.labels(service, op)
                          for op in (*self._OPERATIONS, "other")}

    def listen(self, engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, connection, cursor, statement, parameters, context, executemany) -> None:
        connection.info["collections_statement_started"] = time.perf_counter()

    def _after(self, connection, cursor, statement, parameters, context, executemany) -> None:
        started = connection.info.pop("collections_statement_started", None)
        if started is None:
            return
        verb = statement.lstrip()[:6].lower()
        child = self._children.get(verb) or self._children["other"]
        child.observe(time.perf_counter() - started)


class _Writers:
    """The writers of one SQLite file in this process, served in turn (decision 0014).

    SQLite lets one writer in at a time. Left to itself, a writer that finds the lock
    taken sleeps in SQLite's busy handler in steps of up to 100 ms and wakes whether or
    not the lock came free meanwhile: with a consumer, its relay, a dispatcher and an
    API writing to one file, a service spent most of its time asleep. Here a writer
    waits on an asyncio lock instead and begins the moment the one before it ends.
    Another process still meets the busy handler (one process per SQLite file is the
    supported deployment). Every Database on the same file shares the lock."""

    TIMEOUT_SECONDS = 30.0  # the busy handler's: then the work fails as transient
    _locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    def __init__(self, database: str) -> None:
        self.database = str(Path(database).resolve())

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(self.database)
        if found is None or found[0] is not loop:  # a lock serves the loop it was made on
            found = self._locks[self.database] = (loop, asyncio.Lock())
        return found[1]

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        lock = self._lock()
        try:
            # Not asyncio.wait_for: on Python 3.11 a cancellation that meets the lock's
            # hand-over is swallowed and the cancelled task runs on (see rest.py).
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                await lock.acquire()
        except TimeoutError:
            raise TimeoutError(f"SQLite write lock not free within {self.TIMEOUT_SECONDS:.0f} s") from None
        try:
            yield
        finally:
            lock.release()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the API read while the consumer writes; busy_timeout waits out the
    # relay's short write locks instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy, not the driver, issue BEGIN (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection) -> None:
    # Take the write lock up front: a deferred transaction that reads and then
    # writes fails at once (SQLITE_BUSY_SNAPSHOT) when another writer got there
    # first, whereas BEGIN IMMEDIATE simply waits its turn. Database.reading()
    # never writes, so it needs no lock.
    connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

