"""Mito's Corner (60 §7, §9.8): the quotes and titles behind "Mito's Quote of the Day".

Text is trimmed and checked (quote 1–500, title 1–200 characters) and stored exactly as typed —
markup stays text; pages insert it escaped. Choices where the spec is silent: control
characters are removed (newlines are kept in quotes, turned into spaces in titles, since a title
is shown inline after "Mito,"); duplicates are allowed (officers may repeat a joke on purpose).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import MitoQuote, MitoTitle
from sv_common.errors import Invalid, NotFound

QUOTE_MAX = 500
TITLE_MAX = 200
FALLBACK_TITLE = "Healer Extraordinaire"
MAX_ID = 2**31 - 1  # serial column; larger ids cannot exist (and must not reach the database)
_CONTROL_KEEP_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")


def clean_quote(text: Any) -> str:
    """A quote after trimming; 422 when missing, empty or over 500 characters."""
    if not isinstance(text, str):
        raise Invalid("Quote is required.", details=[{"field": "quote", "message": "required"}])
    cleaned = _CONTROL_KEEP_NEWLINE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = cleaned.strip()
    if not cleaned:
        raise Invalid("Quote cannot be empty!", details=[{"field": "quote", "message": "empty"}])
    if len(cleaned) > QUOTE_MAX:
        raise Invalid(
            f"Quote is too long ({len(cleaned)} characters, at most {QUOTE_MAX}).",
            details=[{"field": "quote", "message": f"at most {QUOTE_MAX} characters"}],
        )
    return cleaned


def clean_title(text: Any) -> str:
    """A title after trimming (single line); 422 when missing, empty or over 200 characters."""
    if not isinstance(text, str):
        raise Invalid("Title is required.", details=[{"field": "title", "message": "required"}])
    cleaned = _CONTROL_KEEP_NEWLINE.sub("", _LINE_BREAKS.sub(" ", text)).strip()
    if not cleaned:
        raise Invalid("Title cannot be empty!", details=[{"field": "title", "message": "empty"}])
    if len(cleaned) > TITLE_MAX:
        raise Invalid(
            f"Title is too long ({len(cleaned)} characters, at most {TITLE_MAX}).",
            details=[{"field": "title", "message": f"at most {TITLE_MAX} characters"}],
        )
    return cleaned


async def list_all(session: AsyncSession) -> tuple[list[MitoQuote], list[MitoTitle]]:
    """Every quote and every title, each in id (creation) order."""
    quotes = (await session.scalars(select(MitoQuote).order_by(MitoQuote.id))).all()
    titles = (await session.scalars(select(MitoTitle).order_by(MitoTitle.id))).all()
    return list(quotes), list(titles)


@dataclass(frozen=True)
class TextKind:
    """Quotes and titles are managed the same way: one table, one text column, one rule."""

    model: type[MitoQuote] | type[MitoTitle]
    column: str
    clean: Callable[[Any], str]
    missing: str


QUOTES = TextKind(MitoQuote, "quote", clean_quote, "Quote not found")
TITLES = TextKind(MitoTitle, "title", clean_title, "Title not found")


async def _existing(session: AsyncSession, kind: TextKind, row_id: int) -> Any:
    row = await session.get(kind.model, row_id) if 1 <= row_id <= MAX_ID else None
    if row is None:
        raise NotFound(kind.missing)
    return row


async def add_text(session: AsyncSession, kind: TextKind, *, text: Any) -> Any:
    """Insert a quote or title."""
    row = kind.model(**{kind.column: kind.clean(text)})
    session.add(row)
    await session.flush()
    return row


async def update_text(session: AsyncSession, kind: TextKind, *, row_id: int, text: Any) -> Any:
    """Replace a quote's or title's text; 422 for bad text before 404 for an unknown id."""
    cleaned = kind.clean(text)
    row = await _existing(session, kind, row_id)
    setattr(row, kind.column, cleaned)
    row.updated_at = clock.now()
    await session.flush()
    return row


async def delete_text(session: AsyncSession, kind: TextKind, *, row_id: int) -> None:
    """Delete a quote or title; 404 when unknown."""
    await session.delete(await _existing(session, kind, row_id))
    await session.flush()


async def quote_of_the_day(
    session: AsyncSession, *, rng: random.Random | None = None
) -> dict[str, str] | None:
    """A random quote and title for the landing page (fallback title); None without quotes."""
    quotes, titles = await list_all(session)
    if not quotes:
        return None
    chooser = rng or random.SystemRandom()
    quote = chooser.choice(quotes).quote
    title = chooser.choice(titles).title if titles else FALLBACK_TITLE
    return {"quote": quote, "title": title}
