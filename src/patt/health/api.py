"""GET /api/health: database status, version and Discord state; 503 when the database is down."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from patt import __version__
from patt.core.envelope import Envelope

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def discord_state(request: Request) -> str:
    """`disabled|connecting|ready|error`, or `fake` with a working file-backed fake."""
    service = getattr(request.app.state, "discord", None)
    if service is None:
        return "disabled"
    if getattr(service, "is_file_fake", False):
        # a fake whose file cannot be read is as broken as a bot that cannot log in
        return "error" if getattr(service, "file_error", None) else "fake"
    return str(getattr(service, "state", "disabled"))


class HealthRead(BaseModel):
    """What an operator needs to know at a glance (no secrets, no exception text)."""

    db: str
    version: str
    discord: str


@router.get("/api/health", response_model=Envelope[HealthRead])
async def health(request: Request) -> JSONResponse:
    """Report database connectivity without exception text."""
    data = {"db": "connected", "version": __version__, "discord": discord_state(request)}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: database unavailable", exc_info=True)
        data["db"] = "error"
        return JSONResponse(
            {"ok": False, "error": "Database unavailable.", "data": data}, status_code=503
        )
    return JSONResponse({"ok": True, "data": data})
