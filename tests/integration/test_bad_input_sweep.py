"""Every JSON endpoint refuses bad bodies with a 4xx and the envelope — never a 500: deeply
nested JSON, malformed or non-UTF-8 bytes, wrong top-level types, and oversized bodies sent in
chunks (no Content-Length)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.conftest import Factory

DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_BODIES = [
    DEEP,
    b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b"{not json",
    b"\xff\xfe\xfa",
    b"[]",
    b"null",
    b'"text"',
    b'{"nested": ' + b"[" * 5000 + b"]" * 5000 + b"}",
]
# Endpoints that answer 503 by design when a service is not configured in tests.
NOT_CONFIGURED = {"/api/guild-sync/addon-upload", "/api/guild-sync/blizzard/trigger"}


def write_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every JSON write route (from the OpenAPI document), ids filled with 1."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in operations:
            if method.upper() in {"POST", "PUT", "PATCH", "DELETE"}:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return found


async def test_no_write_endpoint_answers_500_to_bad_bodies(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    leader = await factory.leader()
    headers = {**leader.headers, "Content-Type": "application/json", "X-API-Key": "x" * 40}
    routes = write_routes(app)
    assert len(routes) > 40
    for method, path in routes:
        for body in BAD_BODIES:
            response = await client.request(method, path, content=body, headers=headers)
            allowed = {503} if path in NOT_CONFIGURED else set()
            assert response.status_code < 500 or response.status_code in allowed, (
                method,
                path,
                body[:20],
                response.status_code,
                response.text[:200],
            )
            if response.status_code >= 400:
                data = response.json()
                assert data.get("ok") is False or data.get("success") is False


async def _chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    sent = 0
    yield b'{"quote": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/v1/guild/mito/quotes", 4 * 1024),
        ("/api/v1/guild/roster-submit", 8 * 1024),
        ("/api/v1/admin/members", 64 * 1024),
    ],
)
async def test_chunked_bodies_over_the_limit_are_413(
    client: httpx.AsyncClient, factory: Factory, path: str, limit: int
) -> None:
    leader = await factory.leader()
    response = await client.post(
        path,
        content=_chunks(limit * 2),
        headers={**leader.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json().get("ok") is False or response.json().get("success") is False
