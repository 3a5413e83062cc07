"""zhibo's logs: text or JSON lines (``ZHIBO_LOG_FORMAT``, JSON by python-json-logger), the
request id on every record made while a request is served, and a safety net that masks anything
that looks like a resident identity number or a mainland mobile number in every record.

The code never logs personal data on purpose; the net is for the record nobody thought about (an
exception quoting a value, a query string in a third-party library's message). It works at two
places: a log-record factory rewrites the message of any record whose text holds such a number
and pre-formats its traceback masked (so every handler, ours or a host's, sees masked text),
and zhibo's formatters mask their whole output (extra fields included). Hook secrets and
tokens passed in query strings (``?secret=``, ``?token=``) are masked the same way.
"""

from __future__ import annotations

import logging
import logging.config
import re
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from zhibo.config import Settings
from zhibo.kit.hashing import mask, mask_phone

#: The id of the request being served (set by the HTTP middleware, read by ``RequestIdFilter``).
REQUEST_ID: ContextVar[str | None] = ContextVar("zhibo_request_id", default=None)

#: 18-character resident identity numbers: region (6 digits), birth date, sequence, check
#: character. Digits on either side mean a longer number (an id, a timestamp), not an ID.
_ID_NUMBER = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9])"
)
#: Mainland mobile numbers, with or without +86 / 86 (also URL-encoded: %2B86).
_PHONE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?)(1[3-9][0-9]{9})(?![0-9])")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:secret|token|access_token|password)=)[^&\s\"']*")


def redact(text: str) -> str:
    """``text`` with ID numbers and phones masked (``kit.hashing``'s masks) and query-string
    secrets replaced by ``***``."""
    text = _ID_NUMBER.sub(lambda m: mask(m.group(0)), text)
    text = _PHONE.sub(lambda m: m.group(1) + mask_phone(m.group(2)), text)
    return _QUERY_SECRET.sub(r"\1***", text)


_TRACEBACKS = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Mask the record's message in place (rewritten only when something matched) and its
    traceback (formatted here, once: handlers reuse ``exc_text``)."""
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return
    clean = redact(message)
    if clean != message:
        record.msg = clean
        record.args = None


def install_redaction() -> None:
    """Make every log record of this process pass ``redact_record`` (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "zhibo_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.zhibo_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class TextFormatter(logging.Formatter):
    """``time level logger [request id]: message``, masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return redact(super().format(record))


class JsonLinesFormatter(JsonFormatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``request_id`` and any ``extra`` fields (the access log's ``method``,
    ``route``, ``status``, ``duration_ms``); masked."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
            # uvicorn's copy of its message with terminal colours: noise in a log store.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return redact(super().format(record))


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonLinesFormatter() if settings.log_format == "json" else TextFormatter()


def stderr_handler(settings: Settings) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings))
    handler.addFilter(RequestIdFilter())
    return handler


def logging_config(settings: Settings, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: every record (zhibo's, uvicorn's, libraries')
    to standard error in the configured format. ``zhibo serve`` hands it to uvicorn, which
    applies it in each worker process; the workers apply it themselves."""
    formatter = "JsonLinesFormatter" if settings.log_format == "json" else "TextFormatter"
    passthrough = {"handlers": [], "propagate": True, "level": level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"zhibo": {"()": f"{__name__}.{formatter}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "zhibo",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "uvicorn": passthrough,
            "uvicorn.error": passthrough,
            "uvicorn.access": passthrough,
            # Alembic announces its plugins at INFO on every revision check.
            "alembic": {"level": "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def configure_logging(settings: Settings, level: str = "INFO") -> None:
    """For processes zhibo starts itself (the workers, ``zhibo up``)."""
    logging.config.dictConfig(logging_config(settings, level))
    install_redaction()
