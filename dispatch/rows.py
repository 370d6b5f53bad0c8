"""Reading a list of one model's rows, so that a look-up states only what it selects: the
model, its conditions and its order."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def fetch_rows(
    session: AsyncSession, model: type[T], *where: ColumnElement[bool], order_by: Any
) -> list[T]:
    """The `model` rows meeting every condition in `where`, in `order_by` order (a column
    or a tuple of columns); an empty list when none does."""
    order = order_by if isinstance(order_by, tuple) else (order_by,)
    return list((await session.scalars(select(model).where(*where).order_by(*order))).all())
