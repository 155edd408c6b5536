"""``SoftDeleteMixin``: rows are marked deleted, and every query skips them."""

from __future__ import annotations

import datetime as dt
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ._crud import CRUDMixin
from .exceptions import NotFoundError
from .types import UTCDateTime

__all__ = ["SoftDeleteMixin"]


class SoftDeleteMixin(CRUDMixin):
    """A ``deleted_at`` timestamp instead of DELETE.

    Queries, ``get`` and loaded relationships skip deleted rows unless asked
    (``Model.filter_by(...).with_deleted()``, ``Model.with_deleted().get(pk)``).
    ``delete()`` marks, ``restore()`` unmarks, ``hard_delete()`` removes the row.
    Put it before ``BaseModel``: ``class Post(SoftDeleteMixin, BaseModel)``.

    Example:
        >>> memo = run(Memo.create(text="draft"))
        >>> run(memo.delete())
        >>> run(Memo.get(memo.id)) is None, run(Memo.count())
        (True, 0)
        >>> run(Memo.with_deleted().get(memo.id)).is_deleted
        True
    """

    __soft_delete_column__ = "deleted_at"

    deleted_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, default=None, index=True, sort_order=12
    )

    @property
    def is_deleted(self) -> bool:
        """Whether the row is marked deleted.

        Example:
            >>> Memo(text="new").is_deleted
            False
        """
        return self.deleted_at is not None

    async def delete(
        self, *, session: AsyncSession | None = None, auto_commit: bool = False
    ) -> None:
        """Mark the row deleted (UPDATE of ``deleted_at``); it disappears from queries.

        Example:
            >>> memo = run(Memo.create(text="old"))
            >>> run(memo.delete())
            >>> run(Memo.filter_by(text="old").count())
            0
            >>> run(Memo.filter_by(text="old").with_deleted().count())
            1
        """
        if self.deleted_at is not None:
            raise NotFoundError(f"This {type(self).__name__} is deleted already.")
        self.deleted_at = dt.datetime.now(dt.UTC)
        await self.save(session=session, auto_commit=auto_commit)

    async def restore(
        self, *, session: AsyncSession | None = None, auto_commit: bool = False
    ) -> Self:
        """Unmark a deleted row.

        Example:
            >>> memo = run(Memo.create(text="oops"))
            >>> run(memo.delete())
            >>> run(memo.restore()).is_deleted, run(Memo.count())
            (False, 1)
        """
        self.deleted_at = None
        return await self.save(session=session, auto_commit=auto_commit)

    async def hard_delete(
        self, *, session: AsyncSession | None = None, auto_commit: bool = False
    ) -> None:
        """DELETE the row for good.

        Example:
            >>> memo = run(Memo.create(text="gone"))
            >>> run(memo.hard_delete())
            >>> run(Memo.with_deleted().get(memo.id)) is None
            True
        """
        await CRUDMixin.delete(self, session=session, auto_commit=auto_commit)
