"""Health endpoint and the API error envelope."""

from __future__ import annotations

from typing import Any

import httpx

from patt.app import create_app


async def test_health_reports_database_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "data": {"db": "connected", "version": "0.1.0", "discord": "disabled"},
    }


async def test_health_is_503_without_exception_text_when_database_is_down(settings: Any) -> None:
    app = create_app(settings, database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["error"] == "Database unavailable."
    assert body["data"]["db"] == "error"
    assert "Errno" not in response.text and "refused" not in response.text.lower()
    await app.state.engine.dispose()


async def test_unknown_api_path_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "Not found."}


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/health")
    assert response.status_code == 405
    assert response.json()["ok"] is False


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
