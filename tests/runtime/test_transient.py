"""One classifier for database, Kafka and HTTP errors: transient ones are retried,
the rest are dead-lettered after a few attempts. The exceptions are the drivers'
own classes, built as the drivers build them."""

from __future__ import annotations

import sqlite3

import asyncpg
import httpx
import pytest
from aiokafka import errors as kafka
from sqlalchemy import exc as sa

from collections_core.database import Database
from collections_core.database import is_transient as reexported
from collections_core.transient import is_transient


def sqlite_error(kind, code: int, message: str = "x") -> sqlite3.Error:
    error = kind(message)
    error.sqlite_errorcode = code
    return error


def wrapped(orig: BaseException, kind=sa.OperationalError) -> sa.DBAPIError:
    return kind("SELECT 1", {}, orig)


def http_status(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://provider/v1/messages")
    return httpx.HTTPStatusError("provider", request=request, response=httpx.Response(status, request=request))


def caused_by(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("handler gave up") from cause
    except RuntimeError as error:
        return error


TRANSIENT = {
    "sqlite database is locked": wrapped(sqlite_error(sqlite3.OperationalError, 5, "database is locked")),
    "sqlite busy, raw driver": sqlite_error(sqlite3.OperationalError, 5 | (3 << 8)),
    "sqlite disk I/O error": wrapped(sqlite_error(sqlite3.OperationalError, 10)),
    "asyncpg connection gone": asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle"),
    "asyncpg admin shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "asyncpg too many connections": asyncpg.exceptions.TooManyConnectionsError("sorry"),
    "asyncpg statement timeout": asyncpg.exceptions.QueryCanceledError("canceling statement"),
    "asyncpg serialization failure": asyncpg.exceptions.SerializationError("could not serialize"),
    "asyncpg deadlock": asyncpg.exceptions.DeadlockDetectedError("deadlock"),
    "asyncpg connection closed (interface)": asyncpg.InterfaceError("connection is closed"),
    "connection refused": ConnectionRefusedError(111, "refused"),
    "multi-address connect failure": OSError("Multiple exceptions: [Errno 111] refused"),
    "timeout": TimeoutError(),
    "sqlalchemy pool timeout": sa.TimeoutError("QueuePool limit"),
    "sqlalchemy invalidated connection": sa.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
    "kafka connection": kafka.KafkaConnectionError("broker down"),
    "kafka timeout": kafka.KafkaTimeoutError(),
    "kafka request timed out": kafka.RequestTimedOutError(),
    "kafka no leader": kafka.NotLeaderForPartitionError(),
    "kafka unknown topic (being created)": kafka.UnknownTopicOrPartitionError(),
    "kafka coordinator moving": kafka.NotCoordinatorForGroupError(),
    "http connect error": httpx.ConnectError("refused"),
    "http read timeout": httpx.ReadTimeout("slow"),
    "http server hung up": httpx.RemoteProtocolError("peer closed"),
    "http 503": http_status(503),
    "http 500": http_status(500),
    "http 429": http_status(429),
    "handler wrapping a transient cause": caused_by(kafka.KafkaConnectionError("down")),
    "group of transients": ExceptionGroup("both", [TimeoutError(), httpx.ConnectError("x")]),
}

PERMANENT = {
    "sqlite no such table": wrapped(sqlite_error(sqlite3.OperationalError, 1, "no such table: x")),
    "sqlite unique constraint": wrapped(sqlite_error(sqlite3.IntegrityError, 2067), sa.IntegrityError),
    "asyncpg value too long": asyncpg.exceptions.StringDataRightTruncationError("value too long"),
    "asyncpg NUL in text": asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
    "asyncpg unique violation": asyncpg.exceptions.UniqueViolationError("duplicate key"),
    "asyncpg bad argument": asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
    "asyncpg undefined table": asyncpg.exceptions.UndefinedTableError("relation does not exist"),
    "sqlalchemy integrity error": wrapped(ValueError("x"), sa.IntegrityError),
    "kafka record too large": kafka.MessageSizeTooLargeError(),
    "kafka topic authorization": kafka.TopicAuthorizationFailedError(),
    "kafka illegal state (partition revoked)": kafka.IllegalStateError("not assigned"),
    "kafka commit failed (rebalanced)": kafka.CommitFailedError(),
    "http 400": http_status(400),
    "http 404": http_status(404),
    "http bad scheme": httpx.UnsupportedProtocol("ftp"),
    "missing file": FileNotFoundError(2, "no such file"),
    "a bug": KeyError("account"),
    "a bug caused by a bug": caused_by(ValueError("bad amount")),
    "group with one permanent": ExceptionGroup("mixed", [TimeoutError(), KeyError("x")]),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient(error):
    assert is_transient(error) is True


@pytest.mark.parametrize("error", PERMANENT.values(), ids=PERMANENT.keys())
def test_not_transient(error):
    assert is_transient(error) is False


def test_the_database_module_keeps_exporting_the_classifier():
    assert reexported is is_transient


async def test_a_real_unreachable_postgresql_is_transient(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql://nobody@127.0.0.1:{port}/none")
    try:
        with pytest.raises(Exception) as raised:
            async with database.transaction():
                pass
        assert is_transient(raised.value)
    finally:
        await database.dispose()


async def test_a_real_sqlite_table_that_does_not_exist_is_not_transient(tmp_path):
    from sqlalchemy import text

    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(sa.OperationalError) as raised:
            async with database.transaction() as connection:
                await connection.execute(text("SELECT * FROM no_such_table"))
        assert not is_transient(raised.value)
    finally:
        await database.dispose()
