"""Load query rows straight into small dataclasses (the in-memory snapshots of set-based
services), selecting exactly the dataclass's fields from a model."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def load_as(
    session: AsyncSession,
    cls: type[T],
    model: Any,
    *where: ColumnElement[bool],
    **columns: Any,
) -> list[T]:
    """One query: each field of the dataclass `cls` read from the same-named column of `model`,
    unless `columns` gives an expression for it; rows filtered by `where`."""
    selected = [
        (columns[f.name] if f.name in columns else getattr(model, f.name)).label(f.name)
        for f in fields(cls)  # type: ignore[arg-type]
    ]
    result = await session.execute(select(*selected).where(*where))
    return [cls(**row._mapping) for row in result.all()]
