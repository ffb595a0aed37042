"""Double-submit CSRF tokens: cookie `patt_csrf` compared in constant time with the form/header."""

from __future__ import annotations

import hmac
import secrets

CSRF_COOKIE = "patt_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"


def new_csrf_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def tokens_match(cookie_value: str | None, submitted: str | None) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(cookie_value.encode(), submitted.encode())
