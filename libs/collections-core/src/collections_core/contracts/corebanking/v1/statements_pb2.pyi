from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatementIssued(_message.Message):
    __slots__ = ("account_id", "statement_id", "cycle_date", "due_date", "statement_balance", "minimum_due")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CYCLE_DATE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_BALANCE_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_DUE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    statement_id: str
    cycle_date: _types_pb2.Date
    due_date: _types_pb2.Date
    statement_balance: _types_pb2.Money
    minimum_due: _types_pb2.Money
    def __init__(self, account_id: _Optional[str] = ..., statement_id: _Optional[str] = ..., cycle_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., due_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., statement_balance: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., minimum_due: _Optional[_Union[_types_pb2.Money, _Mapping]] = ...) -> None: ...
