"""Secrets in query strings never reach the access log (20 §5, §8)."""

from __future__ import annotations

import logging

from patt.core.logutil import RedactSecretsFilter, redact, uvicorn_log_config


def test_invite_codes_and_setup_tokens_are_redacted() -> None:
    assert redact("/register?code=K7PM3QXA") == "/register?code=[redacted]"
    assert redact("/setup?token=abc-DEF_123&x=1") == "/setup?token=[redacted]&x=1"
    assert redact("/roster-view?view=roster") == "/roster-view?view=roster"


def test_filter_rewrites_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/register?code=SECRET99", "1.1", 200),
        None,
    )
    assert RedactSecretsFilter().filter(record) is True
    assert "SECRET99" not in record.getMessage()
    assert "/register?code=[redacted]" in record.getMessage()


def test_serve_log_config_attaches_the_filter_to_the_access_handler() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]["access"]["filters"] == ["redact_secrets"]
