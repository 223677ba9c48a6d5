import datetime

from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Bucket(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUCKET_UNSPECIFIED: _ClassVar[Bucket]
    BUCKET_M0: _ClassVar[Bucket]
    BUCKET_M1: _ClassVar[Bucket]
    BUCKET_M2: _ClassVar[Bucket]
    BUCKET_M3: _ClassVar[Bucket]
    BUCKET_M4: _ClassVar[Bucket]
    BUCKET_M5: _ClassVar[Bucket]
    BUCKET_M6: _ClassVar[Bucket]
    BUCKET_M7_PLUS: _ClassVar[Bucket]
BUCKET_UNSPECIFIED: Bucket
BUCKET_M0: Bucket
BUCKET_M1: Bucket
BUCKET_M2: Bucket
BUCKET_M3: Bucket
BUCKET_M4: Bucket
BUCKET_M5: Bucket
BUCKET_M6: Bucket
BUCKET_M7_PLUS: Bucket

class DelinquencyState(_message.Message):
    __slots__ = ("dpd", "bucket", "past_due_amount", "balance", "oldest_due_date", "cycles_past_due")
    DPD_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PAST_DUE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    OLDEST_DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    CYCLES_PAST_DUE_FIELD_NUMBER: _ClassVar[int]
    dpd: int
    bucket: Bucket
    past_due_amount: _types_pb2.Money
    balance: _types_pb2.Money
    oldest_due_date: _types_pb2.Date
    cycles_past_due: int
    def __init__(self, dpd: _Optional[int] = ..., bucket: _Optional[_Union[Bucket, str]] = ..., past_due_amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., balance: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., oldest_due_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., cycles_past_due: _Optional[int] = ...) -> None: ...

class AccountBecameDelinquent(_message.Message):
    __slots__ = ("account_id", "customer_id", "business_date", "state")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    business_date: _types_pb2.Date
    state: DelinquencyState
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., business_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., state: _Optional[_Union[DelinquencyState, _Mapping]] = ...) -> None: ...

class DelinquencyUpdated(_message.Message):
    __slots__ = ("account_id", "customer_id", "business_date", "state", "correction")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    business_date: _types_pb2.Date
    state: DelinquencyState
    correction: bool
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., business_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., state: _Optional[_Union[DelinquencyState, _Mapping]] = ..., correction: _Optional[bool] = ...) -> None: ...

class AccountCured(_message.Message):
    __slots__ = ("account_id", "customer_id", "business_date", "cured_at", "payment_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    CURED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    business_date: _types_pb2.Date
    cured_at: _timestamp_pb2.Timestamp
    payment_id: str
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., business_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., cured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_id: _Optional[str] = ...) -> None: ...

class PaymentDueSoon(_message.Message):
    __slots__ = ("account_id", "customer_id", "business_date", "due_date", "amount_due", "statement_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    business_date: _types_pb2.Date
    due_date: _types_pb2.Date
    amount_due: _types_pb2.Money
    statement_id: str
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., business_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., due_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., amount_due: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., statement_id: _Optional[str] = ...) -> None: ...
