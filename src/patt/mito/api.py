"""Mito's Corner JSON endpoints (60 §9.8): public read, Officer+ writes (201 on create)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patt.core.envelope import Deleted, Envelope, ok
from patt.core.schemas import read_body
from patt.deps import DB, Officer
from patt.mito import service as mito
from patt.mito.schemas import MitoLists, QuoteBody, QuoteRead, TitleBody, TitleRead

router = APIRouter(prefix="/api/v1/guild/mito", tags=["mito"])


@router.get("", response_model=Envelope[MitoLists])
async def list_mito(db: DB) -> Response:
    """Every quote and title (public: the landing page uses it)."""
    quotes, titles = await mito.list_all(db)
    return ok(MitoLists(quotes=quotes, titles=titles))  # type: ignore[arg-type]


@router.post("/quotes", status_code=201, response_model=Envelope[QuoteRead])
async def add_quote(request: Request, member: Officer, db: DB) -> Response:
    """Add a quote."""
    body = await read_body(request, QuoteBody)
    return ok(QuoteRead.model_validate(await mito.add_quote(db, text=body.quote)), 201)


@router.put("/quotes/{quote_id}", response_model=Envelope[QuoteRead])
async def update_quote(quote_id: int, request: Request, member: Officer, db: DB) -> Response:
    """Edit a quote."""
    body = await read_body(request, QuoteBody)
    quote = await mito.update_quote(db, quote_id=quote_id, text=body.quote)
    return ok(QuoteRead.model_validate(quote))


@router.delete("/quotes/{quote_id}", response_model=Envelope[Deleted])
async def delete_quote(quote_id: int, member: Officer, db: DB) -> Response:
    """Delete a quote."""
    await mito.delete_quote(db, quote_id=quote_id)
    return ok(Deleted())


@router.post("/titles", status_code=201, response_model=Envelope[TitleRead])
async def add_title(request: Request, member: Officer, db: DB) -> Response:
    """Add a title."""
    body = await read_body(request, TitleBody)
    return ok(TitleRead.model_validate(await mito.add_title(db, text=body.title)), 201)


@router.put("/titles/{title_id}", response_model=Envelope[TitleRead])
async def update_title(title_id: int, request: Request, member: Officer, db: DB) -> Response:
    """Edit a title."""
    body = await read_body(request, TitleBody)
    title = await mito.update_title(db, title_id=title_id, text=body.title)
    return ok(TitleRead.model_validate(title))


@router.delete("/titles/{title_id}", response_model=Envelope[Deleted])
async def delete_title(title_id: int, member: Officer, db: DB) -> Response:
    """Delete a title."""
    await mito.delete_title(db, title_id=title_id)
    return ok(Deleted())
