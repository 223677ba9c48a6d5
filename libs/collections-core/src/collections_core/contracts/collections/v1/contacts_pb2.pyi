import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections_core.contracts.collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_LETTER: _ClassVar[Channel]
    CHANNEL_CALL: _ClassVar[Channel]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_SMS: Channel
CHANNEL_EMAIL: Channel
CHANNEL_LETTER: Channel
CHANNEL_CALL: Channel

class ContactRequested(_message.Message):
    __slots__ = ("request_id", "account_id", "customer_id", "case_id", "channel", "template", "parameters", "requested_at", "not_before", "portfolio", "expires_at")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PORTFOLIO_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    customer_id: str
    case_id: str
    channel: Channel
    template: str
    parameters: _containers.ScalarMap[str, str]
    requested_at: _timestamp_pb2.Timestamp
    not_before: _timestamp_pb2.Timestamp
    portfolio: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., case_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., template: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., portfolio: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactCancelled(_message.Message):
    __slots__ = ("request_id", "account_id", "customer_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    customer_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ContactSent(_message.Message):
    __slots__ = ("request_id", "account_id", "customer_id", "case_id", "channel", "sent_at", "provider_message_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    customer_id: str
    case_id: str
    channel: Channel
    sent_at: _timestamp_pb2.Timestamp
    provider_message_id: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., case_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_message_id: _Optional[str] = ...) -> None: ...

class ContactDelivered(_message.Message):
    __slots__ = ("request_id", "account_id", "channel", "delivered_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    channel: Channel
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactFailed(_message.Message):
    __slots__ = ("request_id", "account_id", "channel", "reason", "failed_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    channel: Channel
    reason: str
    failed_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., reason: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactDeferred(_message.Message):
    __slots__ = ("request_id", "account_id", "channel", "rule", "deferred_until")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    channel: Channel
    rule: str
    deferred_until: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., rule: _Optional[str] = ..., deferred_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactBlocked(_message.Message):
    __slots__ = ("request_id", "account_id", "channel", "rule")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    channel: Channel
    rule: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., rule: _Optional[str] = ...) -> None: ...

class OptOutRecorded(_message.Message):
    __slots__ = ("account_id", "customer_id", "channel", "recorded_at")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    customer_id: str
    channel: Channel
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
