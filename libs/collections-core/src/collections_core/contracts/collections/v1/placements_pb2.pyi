import datetime

from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlacementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLACEMENT_KIND_UNSPECIFIED: _ClassVar[PlacementKind]
    PLACEMENT_KIND_AGENCY: _ClassVar[PlacementKind]
    PLACEMENT_KIND_LEGAL: _ClassVar[PlacementKind]

class ActivityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_KIND_UNSPECIFIED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CONTACT: _ClassVar[ActivityKind]
    ACTIVITY_KIND_PROMISE_TO_PAY: _ClassVar[ActivityKind]
    ACTIVITY_KIND_DISPUTE: _ClassVar[ActivityKind]
    ACTIVITY_KIND_HARDSHIP: _ClassVar[ActivityKind]
    ACTIVITY_KIND_NOTE: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CALL_ATTEMPT: _ClassVar[ActivityKind]
    ACTIVITY_KIND_FIELD_VISIT: _ClassVar[ActivityKind]
PLACEMENT_KIND_UNSPECIFIED: PlacementKind
PLACEMENT_KIND_AGENCY: PlacementKind
PLACEMENT_KIND_LEGAL: PlacementKind
ACTIVITY_KIND_UNSPECIFIED: ActivityKind
ACTIVITY_KIND_CONTACT: ActivityKind
ACTIVITY_KIND_PROMISE_TO_PAY: ActivityKind
ACTIVITY_KIND_DISPUTE: ActivityKind
ACTIVITY_KIND_HARDSHIP: ActivityKind
ACTIVITY_KIND_NOTE: ActivityKind
ACTIVITY_KIND_CALL_ATTEMPT: ActivityKind
ACTIVITY_KIND_FIELD_VISIT: ActivityKind

class PlacementRequested(_message.Message):
    __slots__ = ("placement_id", "case_id", "account_id", "customer_id", "kind", "amount", "dpd", "region", "requested_at", "expires_on")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DPD_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_ON_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    case_id: str
    account_id: str
    customer_id: str
    kind: PlacementKind
    amount: _types_pb2.Money
    dpd: int
    region: str
    requested_at: _timestamp_pb2.Timestamp
    expires_on: _types_pb2.Date
    def __init__(self, placement_id: _Optional[str] = ..., case_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., kind: _Optional[_Union[PlacementKind, str]] = ..., amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., dpd: _Optional[int] = ..., region: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ...) -> None: ...

class RecallRequested(_message.Message):
    __slots__ = ("placement_id", "account_id", "reason", "requested_at")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    account_id: str
    reason: str
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, placement_id: _Optional[str] = ..., account_id: _Optional[str] = ..., reason: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlacementAccepted(_message.Message):
    __slots__ = ("placement_id", "account_id", "partner_id", "accepted_at")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    account_id: str
    partner_id: str
    accepted_at: _timestamp_pb2.Timestamp
    def __init__(self, placement_id: _Optional[str] = ..., account_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., accepted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PartnerActivityReported(_message.Message):
    __slots__ = ("placement_id", "account_id", "partner_id", "activity_id", "kind", "occurred_at", "promised_amount", "promised_on", "note")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PROMISED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PROMISED_ON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    account_id: str
    partner_id: str
    activity_id: str
    kind: ActivityKind
    occurred_at: _timestamp_pb2.Timestamp
    promised_amount: _types_pb2.Money
    promised_on: _types_pb2.Date
    note: str
    def __init__(self, placement_id: _Optional[str] = ..., account_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., activity_id: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., promised_amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., promised_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class PlacementReturned(_message.Message):
    __slots__ = ("placement_id", "account_id", "partner_id", "reason", "recovered_amount", "returned_at")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RETURNED_AT_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    account_id: str
    partner_id: str
    reason: str
    recovered_amount: _types_pb2.Money
    returned_at: _timestamp_pb2.Timestamp
    def __init__(self, placement_id: _Optional[str] = ..., account_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., reason: _Optional[str] = ..., recovered_amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., returned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlacementRecalled(_message.Message):
    __slots__ = ("placement_id", "account_id", "partner_id", "reason", "recalled_at")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECALLED_AT_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    account_id: str
    partner_id: str
    reason: str
    recalled_at: _timestamp_pb2.Timestamp
    def __init__(self, placement_id: _Optional[str] = ..., account_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., reason: _Optional[str] = ..., recalled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
