"""``CRUDMixin``: ``create``, ``get``, ``get_or_fail``, ``update`` and ``delete``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, overload

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.orm import InstanceState

from . import _records, _unique_writes
from ._bulk import BulkMixin
from ._model_info import model_info
from ._object import ObjectMixin
from ._orphans import orphaned_children_error
from ._query import QueryMixin
from ._scope import SessionScope
from ._serialize import SerializeMixin
from ._snapshot import Snapshot
from .exceptions import NotFoundError, NotNullError

__all__ = ["CRUDMixin"]


class CRUDMixin(BulkMixin, QueryMixin, SerializeMixin, ObjectMixin):
    """Create, read, update and delete, on the served-or-own session rule.

    A call that takes field values takes nothing else, so that ``**form``
    can never set an option. Without options, a call uses the ambient session
    of ``db.session``/``db.transaction()``; without that, sqlrecord opens its
    own session, commits writes and closes it before returning. Options go
    first, through :meth:`~sqlrecord.QueryMixin.using`:
    ``await User.using(session, auto_commit=True).create(**form)``.

    Example:
        >>> user = run(User.create(email="kim@example.com"))
        >>> same = run(User.get(user.id))
        >>> run(same.update(name="Kim")).name
        'Kim'
        >>> run(same.delete())
        >>> run(User.get(user.id)) is None
        True
    """

    @classmethod
    async def create(cls, data: Mapping[str, Any] | None = None, /, **values: Any) -> Self:
        """Build an object, ``fill`` it from ``data`` and ``values`` and ``save`` it.

        Without a served session the row is committed and the object comes
        back detached, its values (id, timestamps) loaded. Every key is a field
        name: a form's ``"auto_commit"`` or ``"session"`` is refused like any
        unknown field. Options: ``User.using(session, auto_commit=True).create(...)``.

        Example:
            >>> user = run(User.create(email="kim@example.com", name="Kim"))
            >>> user.id is not None, user.created_at.tzname()
            (True, 'UTC')
        """
        created: Self = await _records.create(cls, data, values)
        return created

    @classmethod
    async def get_or_create(
        cls, defaults: Mapping[str, Any] | None = None, /, **lookups: Any
    ) -> tuple[Self, bool]:
        """The row matching plain ``field=value`` lookups, else a new one (lookups + ``defaults``).

        Returns ``(object, created)``. Two tasks racing on the same unique key
        end with one row and no error.

        Example:
            >>> user, created = run(User.get_or_create({"name": "Lee"}, email="lee@example.com"))
            >>> again, created_again = run(User.get_or_create(email="lee@example.com"))
            >>> (user.name, created), (again.id == user.id, created_again)
            (('Lee', True), (True, False))
        """
        return await _unique_writes.get_or_create(cls, defaults, lookups)

    @classmethod
    async def update_or_create(
        cls, defaults: Mapping[str, Any] | None = None, /, **lookups: Any
    ) -> tuple[Self, bool]:
        """Update the row matching ``lookups`` with ``defaults``, or create it.

        The existing row is read with ``SELECT … FOR UPDATE``, so concurrent
        calls queue instead of overwriting each other blindly.

        Example:
            >>> _ = run(User.create(email="kim@example.com", name="Old"))
            >>> user, created = run(User.update_or_create({"name": "New"}, email="kim@example.com"))
            >>> user.name, created
            ('New', False)
        """
        return await _unique_writes.update_or_create(cls, defaults, lookups)

    @classmethod
    async def create_or_update(
        cls, data: Mapping[str, Any] | None = None, /, **values: Any
    ) -> Self:
        """Save ``values`` by the first primary-key or unique column among them (the notes' name).

        Example:
            >>> first = run(User.create_or_update(email="kim@example.com", name="Kim"))
            >>> second = run(User.create_or_update({"email": "kim@example.com", "name": "Kim J."}))
            >>> second.id == first.id, second.name
            (True, 'Kim J.')
        """
        row: Self = await _unique_writes.create_or_update(cls, {**(data or {}), **values})
        return row

    async def update(self, data: Mapping[str, Any] | None = None, /, **values: Any) -> Self:
        """``fill`` then ``save``; a rejected update leaves the object as it was.

        Options go to ``save``: ``await user.fill(**form).save(session=s, auto_commit=True)``.

        Example:
            >>> user = run(User.create(email="kim@example.com"))
            >>> run(user.update(name="Kim", csrf_token="skipped")).name
            'Kim'
        """
        planned = self._plan_fill({**(data or {}), **values}, False)
        return await self._write(
            session=None, auto_commit=False, planned=planned, operation="update"
        )

    async def delete(
        self, *, session: AsyncSession | None = None, auto_commit: bool = False
    ) -> None:
        """Delete this object's row (relationship cascades apply).

        Raises :class:`NotFoundError` for an object that was never saved or that
        was deleted already. A row someone else deleted meanwhile is what the ORM
        makes of it: :class:`StaleObjectError` on a versioned model, SQLAlchemy's
        warning that no row matched otherwise. Children the row still has are
        what the ORM makes of them too: deleted with a delete cascade on the
        relationship, else their foreign key set to NULL, which a NOT NULL key
        refuses (:class:`NotNullError`, naming the relationship and the fix).

        Example:
            >>> user = run(User.create(email="kim@example.com"))
            >>> run(user.delete())
            >>> run(User.get(email="kim@example.com")) is None
            True
        """
        cls = type(self)
        state: InstanceState[Any] = inspect(self)
        if state.key is None:
            raise NotFoundError(
                f"This {cls.__name__} was never saved, so there is nothing to delete."
            )
        if state.was_deleted:
            key = _records.describe_key(model_info(cls), state.key[1])
            raise NotFoundError(f"{cls.__name__} {key} no longer exists: it was deleted already.")
        target = session if session is not None else async_object_session(self)
        scope = SessionScope(
            cls, target, write=True, auto_commit=auto_commit, defer_begin=True, operation="delete"
        )
        snapshot = Snapshot(self)  # a failed delete expires the object: put it back
        try:
            async with scope:
                if await scope.write_row(self, delete=True):
                    return  # one DELETE by key, on a connection of its own
                await scope.begin_delete()  # it may load related rows before the DELETE
                s = scope.session
                held = s.sync_session.identity_map.get(state.key)
                victim = held if held is not None else self
                if held is None:
                    s.add(self)
                await s.delete(victim)
                await scope.flush(victim)
        except BaseException as error:
            snapshot.restore()
            clearer = isinstance(error, NotNullError) and orphaned_children_error(cls, error)
            if not clearer:
                raise
            raise clearer from error.__cause__

    @overload
    @classmethod
    async def get(cls, pk: Any, /) -> Self | None: ...

    @overload
    @classmethod
    async def get(cls, pk: Any, other_pk: Any, /, *pks: Any) -> list[Self]: ...

    @overload
    @classmethod
    async def get(cls, /, **unique: Any) -> Self | None: ...

    @classmethod
    async def get(cls, /, *pks: Any, **unique: Any) -> Self | list[Self] | None:
        """Fetch by primary key, by several (a list, in the order asked), or by a unique column.

        ``None`` when one row was asked for and is absent; missing rows are left
        out of a list. Keyword lookups are allowed on primary-key and unique
        columns only (use the query API for anything else). Soft-deleted rows
        count as absent unless asked for: ``User.with_deleted().get(pk)``; a
        session of your own: ``User.using(session).get(pk)``.

        Example:
            >>> kim = run(User.create(email="kim@example.com"))
            >>> lee = run(User.create(email="lee@example.com"))
            >>> run(User.get(kim.id)).email
            'kim@example.com'
            >>> [user.email for user in run(User.get(lee.id, kim.id, 404))]
            ['lee@example.com', 'kim@example.com']
            >>> run(User.get(email="lee@example.com")).id == lee.id
            True
        """
        found: Self | list[Self] | None = await _records.get(cls, pks, unique)
        return found

    @overload
    @classmethod
    async def get_or_fail(cls, pk: Any, /) -> Self: ...

    @overload
    @classmethod
    async def get_or_fail(cls, pk: Any, other_pk: Any, /, *pks: Any) -> list[Self]: ...

    @overload
    @classmethod
    async def get_or_fail(cls, /, **unique: Any) -> Self: ...

    @classmethod
    async def get_or_fail(cls, /, *pks: Any, **unique: Any) -> Self | list[Self]:
        """Like :meth:`get`, but raise :class:`NotFoundError` for any missing row.

        Example:
            >>> run(User.get_or_fail(404))
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.NotFoundError: No User with id=404.
        """
        found: Self | list[Self] = await _records.get_or_fail(cls, pks, unique)
        return found
