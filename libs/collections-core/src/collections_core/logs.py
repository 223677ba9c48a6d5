"""Structured JSON logs carrying service, ce_id and trace id; PII never in clear.

The redaction processor masks values of PII-named keys and scrubs phone numbers,
e-mail addresses and Chinese ID numbers from any string, so a careless log call
cannot leak them.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

import structlog

PII_KEYS = frozenset(
    {"name", "customer_name", "phone", "phone_number", "mobile", "email", "address", "id_number",
     "national_id", "postal_address", "lines", "body", "text"}
)
_PATTERNS = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"\b\d{17}[\dXx]\b"), "[id-number]"),
    (re.compile(r"\+\d[\d \-]{6,}\d"), "[phone]"),  # E.164, possibly spaced
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "[phone]"),  # a bare mainland China mobile number
)


def scrub(value: str) -> str:
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def _redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in PII_KEYS and value not in (None, ""):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


# The event being handled, as (ce_id, trace_id): one context variable set once per
# event is far cheaper on the consumer's hot path than binding several.
current_event: ContextVar[tuple[str, str] | None] = ContextVar("current_event", default=None)


def add_event_context(_logger, _method, event_dict: dict) -> dict:
    handling = current_event.get()
    if handling is not None:
        event_dict.setdefault("ce_id", handling[0])
        event_dict.setdefault("trace_id", handling[1])
    return event_dict


def redact_pii(_logger, _method, event_dict: dict) -> dict:
    return {key: _redact(value, key) for key, value in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    processors = [
        structlog.contextvars.merge_contextvars,
        add_event_context,
        structlog.processors.add_log_level,
        structlog.processors.format_exc_info,
        redact_pii,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, uvicorn) log through the standard library: keep them quiet and on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
