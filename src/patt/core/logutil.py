"""Logging set-up for `patt serve`: uvicorn's access log without secrets in query strings.

Invite links (`/register?code=…`) and the setup link (`/setup?token=…`) carry secrets in the
query string; 20 §5 and §8 forbid writing them to logs, so their values are replaced.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

SECRET_PARAMS = re.compile(r"(?i)([?&](?:code|token)=)[^&#\s]*")


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


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging config plus the redacting filter on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecretsFilter}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    return config
