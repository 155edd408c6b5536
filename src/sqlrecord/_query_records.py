"""The model-level calls on a ``Query``, so that ``Model.using(...)`` can carry their options.

``User.using(session, auto_commit=True).create(**form)`` is the only way an
option reaches a call that takes field values: the call itself has none.
These run the same bodies as the class methods of ``CRUDMixin`` and
``BulkMixin``, with the query's session, ``auto_commit`` and trusted fields.
``get``/``get_or_fail`` also honour ``with_deleted()`` and ``only_deleted()``; a query with filters,
ordering or limits is refused, since these calls would not use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

from . import _bulk, _bulk_update, _records, _unique_writes
from ._query_building import QueryBuilding

__all__ = ["QueryRecords"]

M = TypeVar("M")


class QueryRecords(QueryBuilding[M]):
    """``create``, ``get`` and the other model-level calls, mixed into :class:`Query`.

    Example:
        >>> user = run(User.using(auto_commit=True).create(email="kim@example.com"))
        >>> run(User.using().get(user.id)).email
        'kim@example.com'
    """

    __slots__ = ()

    def _record_options(self, call: str) -> dict[str, Any]:
        shaped = self._shaped()
        if shaped is not None:
            name = self._model.__name__
            raise TypeError(
                f"{name}.{call}() does not use a query's {shaped}; call it on {name} or on "
                f"{name}.using(...) directly."
            )
        return {
            "session": self._session,
            "auto_commit": self._auto_commit,
            "allow_protected": self._protected,
        }

    async def create(self, data: Mapping[str, Any] | None = None, /, **values: Any) -> M:
        """:meth:`CRUDMixin.create <sqlrecord.CRUDMixin.create>` with this query's options.

        Example:
            >>> async def make() -> int:
            ...     async with db.transaction() as session:
            ...         user = await User.using(session).create({"email": "kim@example.com"})
            ...         return user.id
            >>> run(make()) > 0
            True
        """
        created: M = await _records.create(
            self._model, data, values, **self._record_options("create")
        )
        return created

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, /, **lookups: Any
    ) -> tuple[M, bool]:
        """:meth:`CRUDMixin.get_or_create <sqlrecord.CRUDMixin.get_or_create>` with options.

        Example:
            >>> run(User.using().get_or_create(email="kim@example.com"))[1]
            True
        """
        options = self._record_options("get_or_create")
        return await _unique_writes.get_or_create(self._model, defaults, lookups, **options)

    async def update_or_create(
        self, defaults: Mapping[str, Any] | None = None, /, **lookups: Any
    ) -> tuple[M, bool]:
        """:meth:`CRUDMixin.update_or_create <sqlrecord.CRUDMixin.update_or_create>` with options.

        Example:
            >>> run(User.using().update_or_create({"name": "K"}, email="kim@example.com"))[0].name
            'K'
        """
        options = self._record_options("update_or_create")
        return await _unique_writes.update_or_create(self._model, defaults, lookups, **options)

    async def create_or_update(self, data: Mapping[str, Any] | None = None, /, **values: Any) -> M:
        """:meth:`CRUDMixin.create_or_update <sqlrecord.CRUDMixin.create_or_update>` with options.

        Example:
            >>> run(User.using().create_or_update(email="kim@example.com")).email
            'kim@example.com'
        """
        options = self._record_options("create_or_update")
        row: M = await _unique_writes.create_or_update(
            self._model, {**(data or {}), **values}, **options
        )
        return row

    @overload
    async def bulk_create(
        self,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = ...,
        return_objects: Literal[False] = ...,
    ) -> int: ...

    @overload
    async def bulk_create(
        self,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = ...,
        return_objects: Literal[True],
    ) -> list[M]: ...

    async def bulk_create(
        self,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = 1000,
        return_objects: bool = False,
    ) -> int | list[M]:
        """:meth:`BulkMixin.bulk_create <sqlrecord.BulkMixin.bulk_create>` with options.

        Example:
            >>> run(User.using(allow_protected=True).bulk_create([{"email": "a@x.org",
            ...                                                    "is_admin": True}]))
            1
        """
        created: int | list[M] = await _bulk.bulk_create(
            self._model,
            rows,
            batch_size=batch_size,
            return_objects=return_objects,
            **self._record_options("bulk_create"),
        )
        return created

    async def bulk_update(
        self, objs: Iterable[M], fields: Iterable[Any], /, *, batch_size: int = 1000
    ) -> int:
        """:meth:`BulkMixin.bulk_update <sqlrecord.BulkMixin.bulk_update>` with options.

        Example:
            >>> user = run(User.create(email="kim@example.com"))
            >>> user.is_admin = True
            >>> run(User.using(allow_protected={"is_admin"}).bulk_update([user], ["is_admin"]))
            1
        """
        return await _bulk_update.bulk_update(
            self._model,
            objs,
            fields,
            batch_size=batch_size,
            **self._record_options("bulk_update"),
        )

    async def upsert(
        self,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        conflict: Sequence[str],
        update: Sequence[str] | None = None,
        return_objects: bool = False,
        batch_size: int = 1000,
    ) -> int | list[M]:
        """:meth:`BulkMixin.upsert <sqlrecord.BulkMixin.upsert>` with this query's options.

        Example:
            >>> run(User.using().upsert([{"email": "kim@example.com"}], conflict=["email"]))
            1
        """
        written: int | list[M] = await _bulk.upsert(
            self._model,
            rows,
            conflict=conflict,
            update=update,
            return_objects=return_objects,
            batch_size=batch_size,
            **self._record_options("upsert"),
        )
        return written

    @overload
    async def get(self, pk: Any, /) -> M | None: ...

    @overload
    async def get(self, pk: Any, other_pk: Any, /, *pks: Any) -> list[M]: ...

    @overload
    async def get(self, /, **unique: Any) -> M | None: ...

    async def get(self, /, *pks: Any, **unique: Any) -> M | list[M] | None:
        """:meth:`CRUDMixin.get <sqlrecord.CRUDMixin.get>` in this query's session;
        soft-deleted rows too after ``with_deleted()``, only those after ``only_deleted()``.

        Example:
            >>> memo = run(Memo.create(text="old"))
            >>> run(memo.delete())
            >>> run(Memo.get(memo.id)), run(Memo.with_deleted().get(memo.id)).text
            (None, 'old')
        """
        self._record_options("get")
        found: M | list[M] | None = await _records.get(
            self._model,
            pks,
            unique,
            session=self._session,
            with_deleted=self._with_deleted,
            only_deleted=self._only_deleted,
        )
        return found

    @overload
    async def get_or_fail(self, pk: Any, /) -> M: ...

    @overload
    async def get_or_fail(self, pk: Any, other_pk: Any, /, *pks: Any) -> list[M]: ...

    @overload
    async def get_or_fail(self, /, **unique: Any) -> M: ...

    async def get_or_fail(self, /, *pks: Any, **unique: Any) -> M | list[M]:
        """:meth:`CRUDMixin.get_or_fail <sqlrecord.CRUDMixin.get_or_fail>` with this query's
        session and ``with_deleted()``.

        Example:
            >>> run(User.using().get_or_fail(404))
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.NotFoundError: No User with id=404.
        """
        self._record_options("get_or_fail")
        found: M | list[M] = await _records.get_or_fail(
            self._model,
            pks,
            unique,
            session=self._session,
            with_deleted=self._with_deleted,
            only_deleted=self._only_deleted,
        )
        return found
