"""Request bodies and response shapes of Mito's Corner."""

from __future__ import annotations

from typing import Any

from patt.core.schemas import Body, ReadModel


class QuoteBody(Body):
    """`{"quote": "…"}` (checked by the service for a clear message)."""

    quote: Any = None


class TitleBody(Body):
    """`{"title": "…"}`."""

    title: Any = None


class QuoteRead(ReadModel):
    """One quote."""

    id: int
    quote: str


class TitleRead(ReadModel):
    """One title."""

    id: int
    title: str


class MitoLists(ReadModel):
    """Every quote and title, in creation order."""

    quotes: list[QuoteRead]
    titles: list[TitleRead]
