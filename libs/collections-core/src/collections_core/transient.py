"""Transient or not: the one answer the consumer, the relay and handlers share.

A transient error says "not now": a database, the broker or a provider is down,
busy, overloaded or slow to answer. The work that met it is retried with backoff
and never dead-lettered, because the same work will succeed once the dependency is
back. Every other error says "never like this" (bad data, a bug, a refusal that
will not change): retrying it forever would stall a partition, so the consumer
dead-letters the record after a few attempts.

Drivers wrap each other (SQLAlchemy wraps asyncpg and aiosqlite errors; handlers
may wrap with ``raise ... from``), so the explicit cause chain is followed until
one link is recognised.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import httpx
from aiokafka import errors as kafka
from sqlalchemy import exc as sa

# Refusals the broker will repeat however often it is asked.
_KAFKA_PERMANENT = (
    kafka.IllegalStateError, kafka.IllegalArgumentError, kafka.CommitFailedError,
    kafka.UnrecognizedBrokerVersion, kafka.IncompatibleBrokerVersion, kafka.UnsupportedVersionError,
    kafka.UnsupportedForMessageFormatError, kafka.UnsupportedCodecError, kafka.KafkaConfigurationError,
    kafka.AuthenticationMethodNotSupported, kafka.AuthenticationFailedError, kafka.SaslAuthenticationFailed,
    kafka.TopicAuthorizationFailedError, kafka.GroupAuthorizationFailedError,
    kafka.ClusterAuthorizationFailedError, kafka.TransactionalIdAuthorizationFailed,
    kafka.RecordTooLargeError, kafka.MessageSizeTooLargeError, kafka.RecordListTooLargeError,
    kafka.InvalidTopicError, kafka.InvalidRequestError, kafka.PolicyViolationError,
    kafka.InvalidTimestampError, kafka.OffsetMetadataTooLargeError, kafka.ProducerFenced,
)

# PostgreSQL SQLSTATEs of "not now": connection exceptions (08), insufficient
# resources (53), shutdown / cannot connect now (57P0x), statement timeout or
# cancel, serialization failure, deadlock, lock not available, system I/O error.
_SQLSTATE_CLASSES = ("08", "53", "57P")
_SQLSTATES = frozenset({"57014", "40001", "40P01", "55P03", "58000", "58030"})

# SQLite primary result codes of "not now": busy, locked, out of memory, I/O
# error, disk full, cannot open, lock protocol.
_SQLITE_CODES = frozenset({5, 6, 7, 10, 13, 14, 15})

# Local filesystem mistakes are configuration bugs, not outages.
_OS_PERMANENT = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)

_HTTP_RETRY_STATUSES = frozenset({408, 425, 429})


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same work later can succeed."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
        link = link.__cause__
    return False


def _verdict(error: BaseException) -> bool | None:
    """True or False when ``error`` itself is recognised, None to look at its cause."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(inner) for inner in error.exceptions)
    if isinstance(error, kafka.KafkaError):
        return not isinstance(error, _KAFKA_PERMANENT)
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        return status >= 500 or status in _HTTP_RETRY_STATUSES
    if isinstance(error, httpx.TransportError):
        return not isinstance(error, (httpx.UnsupportedProtocol, httpx.LocalProtocolError))
    if isinstance(error, (sa.TimeoutError, sa.DisconnectionError)):
        return True
    if isinstance(error, sa.DBAPIError):
        return _database(error)
    driver = _driver_verdict(error)
    if driver is not None:
        return driver
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if isinstance(error, OSError):
        return not isinstance(error, _OS_PERMANENT)
    return None


def _database(error: sa.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    # SQLAlchemy's asyncpg adapter keeps the driver's own error as the cause of ``orig``.
    for inner in (error.orig, getattr(error.orig, "__cause__", None)):
        if inner is None:
            continue
        verdict = _driver_verdict(inner)
        if verdict is None and isinstance(inner, (ConnectionError, TimeoutError, OSError)):
            verdict = not isinstance(inner, _OS_PERMANENT)
        if verdict is not None:
            return verdict
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate:
        return _sqlstate_transient(sqlstate)
    return isinstance(error, sa.OperationalError)


def _driver_verdict(error: BaseException) -> bool | None:
    """Errors raised by the drivers themselves (the hot path calls them directly)."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:
            return isinstance(error, sqlite3.OperationalError)
        return code & 0xFF in _SQLITE_CODES
    if isinstance(error, asyncpg.PostgresError):
        return _sqlstate_transient(error.sqlstate or "")
    if isinstance(error, asyncpg.InterfaceError):
        # A bad argument or setting (the ValueError kinds) is a bug; a closed connection is not.
        return not isinstance(error, ValueError)
    if isinstance(error, asyncpg.InternalClientError):
        return False
    return None


def _sqlstate_transient(sqlstate: str) -> bool:
    return sqlstate in _SQLSTATES or sqlstate.startswith(_SQLSTATE_CLASSES)
