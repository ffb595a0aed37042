"""Mito's Corner JSON endpoints (60 §9.8): public read, Officer+ writes (201 on create)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from patt.core.envelope import ok
from patt.core.schemas import Body, read_body
from patt.deps import DB, Officer
from patt.mito import service as mito

router = APIRouter(prefix="/api/v1/guild/mito", tags=["mito"])


class QuoteBody(Body):
    """`{"quote": "…"}` (checked by the service for a clear message)."""

    quote: Any = None


class TitleBody(Body):
    """`{"title": "…"}`."""

    title: Any = None


@router.get("")
async def list_mito(db: DB) -> JSONResponse:
    """Every quote and title (public: the landing page uses it)."""
    return ok(await mito.list_all(db))


@router.post("/quotes")
async def add_quote(request: Request, member: Officer, db: DB) -> JSONResponse:
    """Add a quote."""
    body = await read_body(request, QuoteBody)
    return ok(await mito.add_quote(db, text=body.quote), status_code=201)


@router.put("/quotes/{quote_id}")
async def update_quote(quote_id: int, request: Request, member: Officer, db: DB) -> JSONResponse:
    """Edit a quote."""
    body = await read_body(request, QuoteBody)
    return ok(await mito.update_quote(db, quote_id=quote_id, text=body.quote))


@router.delete("/quotes/{quote_id}")
async def delete_quote(quote_id: int, member: Officer, db: DB) -> JSONResponse:
    """Delete a quote."""
    await mito.delete_quote(db, quote_id=quote_id)
    return ok({"deleted": True})


@router.post("/titles")
async def add_title(request: Request, member: Officer, db: DB) -> JSONResponse:
    """Add a title."""
    body = await read_body(request, TitleBody)
    return ok(await mito.add_title(db, text=body.title), status_code=201)


@router.put("/titles/{title_id}")
async def update_title(title_id: int, request: Request, member: Officer, db: DB) -> JSONResponse:
    """Edit a title."""
    body = await read_body(request, TitleBody)
    return ok(await mito.update_title(db, title_id=title_id, text=body.title))


@router.delete("/titles/{title_id}")
async def delete_title(title_id: int, member: Officer, db: DB) -> JSONResponse:
    """Delete a title."""
    await mito.delete_title(db, title_id=title_id)
    return ok({"deleted": True})
