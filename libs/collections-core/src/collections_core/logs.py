"""Structured JSON logs carrying service, ce_id and trace id; PII never in clear.

The redaction processor masks values of PII-named keys and scrubs phone numbers,
e-mail addresses, Chinese ID numbers and the values of PII-named fields written
into text (a dict's repr, JSON, ``name=...``) from any string, so a careless log
call cannot leak them. Records of the standard library's logging (uvicorn,
SQLAlchemy, aiokafka, asyncio, any vendor SDK) are rendered by the same chain, so
they pass through the same redaction and come out as the same JSON lines.
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
# Keys whose value is a person's data wherever it is written into text.
_PERSONAL_KEYS = "|".join(("customer_name", "full_name", "name", "phone_number", "phone", "mobile", "email",
                           "postal_address", "address", "lines", "id_number", "national_id"))
_PATTERNS = (
    # 'name': 'Li Lei' / "phone": "+86..." / name=Li Lei, ... : the value up to its closing quote or the next separator.
    (re.compile(rf"""(\b(?:{_PERSONAL_KEYS})\b['"]?\s*[:=]\s*)("[^"]*"|'[^']*'|[^,;&)}}\]\n]+)""", re.IGNORECASE),
     r"\1[redacted]"),
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


class _StandardLibraryHandler(logging.StreamHandler):
    """The root handler configure_logging installs (and replaces when called again).

    It writes to whatever ``sys.stderr`` is when a record comes, so a stream that
    was replaced (a test's capture) and closed since is never written to."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    context = [structlog.contextvars.merge_contextvars, add_event_context, structlog.processors.add_log_level]
    rendering = [
        structlog.processors.format_exc_info,
        redact_pii,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=context + rendering,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (and Python's warnings) log through the standard library: the same
    # context, redaction and rendering, on stderr; kept at WARNING because their INFO is chatty.
    handler = _StandardLibraryHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*context, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering]))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StandardLibraryHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
