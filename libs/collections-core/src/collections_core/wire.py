"""Conversions between Python values and the contract's date and instant types."""

from __future__ import annotations

from datetime import UTC, date, datetime

from google.protobuf import timestamp_pb2

from collections_core.contracts.common.v1 import types_pb2


def date_to_proto(value: date) -> types_pb2.Date:
    return types_pb2.Date(year=value.year, month=value.month, day=value.day)


def date_from_proto(message: types_pb2.Date) -> date:
    """Raises ValueError for an absent or impossible date (e.g. 2027-02-29)."""
    return date(message.year, message.month, message.day)


def instant_to_proto(value: datetime) -> timestamp_pb2.Timestamp:
    if value.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def instant_from_proto(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)
