"""Logging: plain text or one JSON object per line (LOG_FORMAT), the request id on every record
written while a request is handled, and no secrets from query strings.

Invite links (`/register?code=…`) and the setup link (`/setup?token=…`) carry secrets in the
query string; 20 §5 and §8 forbid writing them to logs, so their values are replaced.

`patt serve` installs `uvicorn_log_config(...)`: the app's own access log (`patt.access`,
written by `patt.core.observability`) replaces uvicorn's, so every request line carries the
request id, the route template and the duration.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

SECRET_PARAMS = re.compile(r"(?i)([?&](?:code|token)=)[^&#\s]*")

# The id of the request being handled by this task (None outside requests: jobs, startup).
REQUEST_ID: ContextVar[str | None] = ContextVar("patt_request_id", default=None)

# LogRecord attributes that are not extra fields given by the caller.
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def redact(path: str) -> str:
    """The path with the values of secret query parameters replaced by `[redacted]`."""
    return SECRET_PARAMS.sub(r"\1[redacted]", path)


class RedactSecretsFilter(logging.Filter):
    """Rewrites the request path argument of uvicorn access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the current request's, or "-") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, process id, the
    caller's extra fields, and the exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
            "pid": record.process or os.getpid(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def uvicorn_log_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging config with the request-id filter, the chosen format for every
    handler, the app's loggers at `level`, and the redacting filter on uvicorn's access log
    (kept for anyone who turns it back on)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    filters = config.setdefault("filters", {})
    filters["redact_secrets"] = {"()": RedactSecretsFilter}
    filters["request_id"] = {"()": RequestIdFilter}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    config["handlers"]["default"]["filters"] = ["request_id"]
    if log_format == "json":
        config["formatters"]["json"] = {"()": JsonFormatter}
        config["handlers"]["default"]["formatter"] = "json"
        config["handlers"]["access"]["formatter"] = "json"
    else:
        config["formatters"]["app"] = {"format": TEXT_FORMAT}
        config["handlers"]["default"]["formatter"] = "app"
    level = level.upper()
    config["loggers"]["uvicorn"]["level"] = level
    config["loggers"]["patt"] = {"handlers": ["default"], "level": level, "propagate": False}
    config["loggers"]["sv_common"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Apply the same logging set-up outside uvicorn (CLI commands)."""
    import logging.config

    logging.config.dictConfig(uvicorn_log_config(log_format, level))
