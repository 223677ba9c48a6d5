from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentPosted(_message.Message):
    __slots__ = ("account_id", "payment_id", "amount", "posted_on", "value_date")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POSTED_ON_FIELD_NUMBER: _ClassVar[int]
    VALUE_DATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    payment_id: str
    amount: _types_pb2.Money
    posted_on: _types_pb2.Date
    value_date: _types_pb2.Date
    def __init__(self, account_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., posted_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., value_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ...) -> None: ...

class PaymentReversed(_message.Message):
    __slots__ = ("account_id", "payment_id", "reversed_on", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REVERSED_ON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    payment_id: str
    reversed_on: _types_pb2.Date
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., reversed_on: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
