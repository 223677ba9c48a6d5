from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNSPECIFIED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_OPEN: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_BLOCKED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_CLOSED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_CHARGED_OFF: _ClassVar[AccountStatus]
ACCOUNT_STATUS_UNSPECIFIED: AccountStatus
ACCOUNT_STATUS_OPEN: AccountStatus
ACCOUNT_STATUS_BLOCKED: AccountStatus
ACCOUNT_STATUS_CLOSED: AccountStatus
ACCOUNT_STATUS_CHARGED_OFF: AccountStatus

class AccountOpened(_message.Message):
    __slots__ = ("account_id", "customer_id", "currency", "credit_limit", "opened_on")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPENED_ON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    currency: str
    credit_limit: _types_pb2.Money
    opened_on: _types_pb2.Date
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., credit_limit: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., opened_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ...) -> None: ...

class AccountStatusChanged(_message.Message):
    __slots__ = ("account_id", "status", "effective_on", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_ON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: AccountStatus
    effective_on: _types_pb2.Date
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., effective_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
