"""Mito's Corner JSON endpoints (60 §9.8): public read, Officer+ writes (201 on create)."""

from __future__ import annotations

from typing import Any

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


def _text_routes(path: str, kind: mito.TextKind, body_model: Any, read_model: Any) -> None:
    """Create, edit and delete routes of one kind of text (quotes, titles)."""

    async def add(request: Request, member: Officer, db: DB) -> Response:
        body = await read_body(request, body_model)
        row = await mito.add_text(db, kind, text=getattr(body, kind.column))
        return ok(read_model.model_validate(row), 201)

    async def update(row_id: int, request: Request, member: Officer, db: DB) -> Response:
        body = await read_body(request, body_model)
        row = await mito.update_text(db, kind, row_id=row_id, text=getattr(body, kind.column))
        return ok(read_model.model_validate(row))

    async def delete(row_id: int, member: Officer, db: DB) -> Response:
        await mito.delete_text(db, kind, row_id=row_id)
        return ok(Deleted())

    noun = kind.column
    router.add_api_route(
        f"/{path}", add, methods=["POST"], status_code=201,
        response_model=Envelope[read_model], summary=f"Add a {noun}",
    )  # fmt: skip
    router.add_api_route(
        f"/{path}/{{row_id}}", update, methods=["PUT"],
        response_model=Envelope[read_model], summary=f"Edit a {noun}",
    )  # fmt: skip
    router.add_api_route(
        f"/{path}/{{row_id}}", delete, methods=["DELETE"],
        response_model=Envelope[Deleted], summary=f"Delete a {noun}",
    )  # fmt: skip


_text_routes("quotes", mito.QUOTES, QuoteBody, QuoteRead)
_text_routes("titles", mito.TITLES, TitleBody, TitleRead)
