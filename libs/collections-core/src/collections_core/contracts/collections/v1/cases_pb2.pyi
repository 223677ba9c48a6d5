import datetime

from collections_core.contracts.common.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_REMINDER: _ClassVar[Stage]
    STAGE_EARLY: _ClassVar[Stage]
    STAGE_LETTER: _ClassVar[Stage]
    STAGE_FIELD: _ClassVar[Stage]
    STAGE_AGENCY: _ClassVar[Stage]
    STAGE_LEGAL: _ClassVar[Stage]

class CreditBehaviour(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_BEHAVIOUR_UNSPECIFIED: _ClassVar[CreditBehaviour]
    CREDIT_BEHAVIOUR_PROMISE_KEPT: _ClassVar[CreditBehaviour]
    CREDIT_BEHAVIOUR_PROMISE_BROKEN: _ClassVar[CreditBehaviour]
    CREDIT_BEHAVIOUR_PLAN_COMPLETED: _ClassVar[CreditBehaviour]
    CREDIT_BEHAVIOUR_PLAN_BROKEN: _ClassVar[CreditBehaviour]
    CREDIT_BEHAVIOUR_CURED: _ClassVar[CreditBehaviour]
STAGE_UNSPECIFIED: Stage
STAGE_REMINDER: Stage
STAGE_EARLY: Stage
STAGE_LETTER: Stage
STAGE_FIELD: Stage
STAGE_AGENCY: Stage
STAGE_LEGAL: Stage
CREDIT_BEHAVIOUR_UNSPECIFIED: CreditBehaviour
CREDIT_BEHAVIOUR_PROMISE_KEPT: CreditBehaviour
CREDIT_BEHAVIOUR_PROMISE_BROKEN: CreditBehaviour
CREDIT_BEHAVIOUR_PLAN_COMPLETED: CreditBehaviour
CREDIT_BEHAVIOUR_PLAN_BROKEN: CreditBehaviour
CREDIT_BEHAVIOUR_CURED: CreditBehaviour

class CaseOpened(_message.Message):
    __slots__ = ("case_id", "account_id", "customer_id", "stage", "dpd", "opened_at")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DPD_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    account_id: str
    customer_id: str
    stage: Stage
    dpd: int
    opened_at: _timestamp_pb2.Timestamp
    def __init__(self, case_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., stage: _Optional[_Union[Stage, str]] = ..., dpd: _Optional[int] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StageChanged(_message.Message):
    __slots__ = ("case_id", "account_id", "from_stage", "to_stage", "rule", "changed_at", "strategy_id", "strategy_version", "variant", "business_date")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_VERSION_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    account_id: str
    from_stage: Stage
    to_stage: Stage
    rule: str
    changed_at: _timestamp_pb2.Timestamp
    strategy_id: str
    strategy_version: int
    variant: str
    business_date: _types_pb2.Date
    def __init__(self, case_id: _Optional[str] = ..., account_id: _Optional[str] = ..., from_stage: _Optional[_Union[Stage, str]] = ..., to_stage: _Optional[_Union[Stage, str]] = ..., rule: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., strategy_id: _Optional[str] = ..., strategy_version: _Optional[int] = ..., variant: _Optional[str] = ..., business_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ...) -> None: ...

class CaseClosed(_message.Message):
    __slots__ = ("case_id", "account_id", "reason", "closed_at")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    account_id: str
    reason: str
    closed_at: _timestamp_pb2.Timestamp
    def __init__(self, case_id: _Optional[str] = ..., account_id: _Optional[str] = ..., reason: _Optional[str] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditBureauReportRequested(_message.Message):
    __slots__ = ("case_id", "account_id", "customer_id", "dpd", "requested_at")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DPD_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    account_id: str
    customer_id: str
    dpd: int
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, case_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., dpd: _Optional[int] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditBehaviourRecorded(_message.Message):
    __slots__ = ("customer_id", "account_id", "case_id", "behaviour", "recorded_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    account_id: str
    case_id: str
    behaviour: CreditBehaviour
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., account_id: _Optional[str] = ..., case_id: _Optional[str] = ..., behaviour: _Optional[_Union[CreditBehaviour, str]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
