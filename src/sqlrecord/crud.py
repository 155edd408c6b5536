"""``CRUDMixin``: ``create``, ``get``, ``get_or_fail``, ``update`` and ``delete``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Self, overload

from sqlalchemy import inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.orm import InstanceState

from . import unique_writes
from ._one_statement import deletes_alone
from ._scope import SessionScope
from ._soft import live_condition, soft_delete_column
from .bulk import BulkMixin
from .exceptions import InvalidFieldError, InvalidValueError, NotFoundError
from .introspection import ModelInfo, fits, model_info
from .object import ObjectMixin, check_integer_range
from .query_mixin import QueryMixin
from .serialize import SerializeMixin

__all__ = ["CRUDMixin"]


class CRUDMixin(BulkMixin, QueryMixin, SerializeMixin, ObjectMixin):
    """Create, read, update and delete, on the served-or-own session rule.

    Every method takes ``session=`` (a served session: flushed, committed only
    with ``auto_commit=True``, never closed). Without it, the ambient session
    of ``db.session``/``db.transaction()`` is used; without that, sqlrecord
    opens its own session, commits writes and closes it before returning.

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
    async def create(
        cls,
        data: Mapping[str, Any] | None = None,
        /,
        *,
        session: AsyncSession | None = None,
        auto_commit: bool = False,
        allow_protected: bool | Collection[str] = False,
        **values: Any,
    ) -> Self:
        """Build an object, ``fill`` it from ``values`` and ``save`` it (the notes' create).

        Without a served session the row is committed and the object comes
        back detached, its values (id, timestamps) loaded.

        Example:
            >>> user = run(User.create(email="kim@example.com", name="Kim"))
            >>> user.id is not None, user.created_at.tzname()
            (True, 'UTC')
        """
        obj = cls()
        planned = obj._plan_fill({**(data or {}), **values}, allow_protected)
        return await obj._write(session=session, auto_commit=auto_commit, planned=planned)

    @classmethod
    async def get_or_create(
        cls,
        defaults: Mapping[str, Any] | None = None,
        *,
        session: AsyncSession | None = None,
        auto_commit: bool = False,
        **lookups: Any,
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
        return await unique_writes.get_or_create(
            cls, defaults, lookups, session=session, auto_commit=auto_commit
        )

    @classmethod
    async def update_or_create(
        cls,
        defaults: Mapping[str, Any] | None = None,
        *,
        session: AsyncSession | None = None,
        auto_commit: bool = False,
        **lookups: Any,
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
        return await unique_writes.update_or_create(
            cls, defaults, lookups, session=session, auto_commit=auto_commit
        )

    @classmethod
    async def create_or_update(
        cls, *, session: AsyncSession | None = None, auto_commit: bool = False, **values: Any
    ) -> Self:
        """Save ``values`` by the first primary-key or unique column among them (the notes' name).

        Example:
            >>> first = run(User.create_or_update(email="kim@example.com", name="Kim"))
            >>> second = run(User.create_or_update(email="kim@example.com", name="Kim J."))
            >>> second.id == first.id, second.name
            (True, 'Kim J.')
        """
        row: Self = await unique_writes.create_or_update(
            cls, values, session=session, auto_commit=auto_commit
        )
        return row

    async def update(
        self,
        data: Mapping[str, Any] | None = None,
        /,
        *,
        session: AsyncSession | None = None,
        auto_commit: bool = False,
        allow_protected: bool | Collection[str] = False,
        **values: Any,
    ) -> Self:
        """``fill`` then ``save``; a rejected update leaves the object as it was.

        Example:
            >>> user = run(User.create(email="kim@example.com"))
            >>> run(user.update(name="Kim", csrf_token="skipped")).name
            'Kim'
        """
        planned = self._plan_fill({**(data or {}), **values}, allow_protected)
        return await self._write(session=session, auto_commit=auto_commit, planned=planned)

    async def delete(
        self, *, session: AsyncSession | None = None, auto_commit: bool = False
    ) -> None:
        """Delete this object's row (relationship cascades apply).

        Raises :class:`NotFoundError` for an object that was never saved or that
        was deleted already. A row someone else deleted meanwhile is what the ORM
        makes of it: :class:`StaleObjectError` on a versioned model, SQLAlchemy's
        warning that no row matched otherwise.

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
            raise NotFoundError(
                f"{cls.__name__} {_describe_key(model_info(cls), state.key[1])} no longer exists: "
                "it was deleted already."
            )
        target = session if session is not None else async_object_session(self)
        scope = SessionScope(cls, target, write=True, auto_commit=auto_commit, begin_later=True)
        async with scope as s:
            if not deletes_alone(cls):
                # Deleting may load related rows first: begin before that.
                await scope.begin_writing()
            held = s.sync_session.identity_map.get(state.key)
            victim = held if held is not None else self
            if held is None:
                s.add(self)
            await s.delete(victim)
            await scope.begin_writing(alone=victim)
            await s.flush()

    @overload
    @classmethod
    async def get(
        cls, pk: Any, /, *, session: AsyncSession | None = None, with_deleted: bool = False
    ) -> Self | None: ...

    @overload
    @classmethod
    async def get(
        cls,
        pk: Any,
        other_pk: Any,
        /,
        *pks: Any,
        session: AsyncSession | None = None,
        with_deleted: bool = False,
    ) -> list[Self]: ...

    @overload
    @classmethod
    async def get(
        cls, *, session: AsyncSession | None = None, with_deleted: bool = False, **unique: Any
    ) -> Self | None: ...

    @classmethod
    async def get(
        cls,
        *pks: Any,
        session: AsyncSession | None = None,
        with_deleted: bool = False,
        **unique: Any,
    ) -> Self | list[Self] | None:
        """Fetch by primary key, by several (a list, in the order asked), or by a unique column.

        ``None`` when one row was asked for and is absent; missing rows are left
        out of a list. Keyword lookups are allowed on primary-key and unique
        columns only (use the query API for anything else). Soft-deleted rows
        count as absent unless ``with_deleted=True``.

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
        info = model_info(cls)
        if pks and unique:
            raise TypeError(f"{cls.__name__}.get takes primary keys or unique keywords, not both.")
        if not pks and not unique:
            raise TypeError(f"{cls.__name__}.get needs a primary key or a unique keyword.")
        live = [] if with_deleted or soft_delete_column(cls) is None else [live_condition(cls)]
        scope = SessionScope(cls, session, write=False)
        async with scope as s:
            if unique:
                statement = select(cls).filter_by(**_checked_unique(cls, info, unique)).where(*live)
                return (await s.scalars(statement)).one_or_none()
            keys = [_checked_key(cls, info, pk) for pk in pks]
            if len(keys) == 1:
                found: Self | None = _held_by(s, cls, keys[0]) if scope.fast_paths else None
                if found is None:
                    found = await s.get(cls, keys[0])
                if found is not None and live and getattr(found, str(soft_delete_column(cls))):
                    return None
                return found
            return await _get_many(s, cls, info, keys, live)

    @overload
    @classmethod
    async def get_or_fail(
        cls, pk: Any, /, *, session: AsyncSession | None = None, with_deleted: bool = False
    ) -> Self: ...

    @overload
    @classmethod
    async def get_or_fail(
        cls,
        pk: Any,
        other_pk: Any,
        /,
        *pks: Any,
        session: AsyncSession | None = None,
        with_deleted: bool = False,
    ) -> list[Self]: ...

    @overload
    @classmethod
    async def get_or_fail(
        cls, *, session: AsyncSession | None = None, with_deleted: bool = False, **unique: Any
    ) -> Self: ...

    @classmethod
    async def get_or_fail(
        cls,
        *pks: Any,
        session: AsyncSession | None = None,
        with_deleted: bool = False,
        **unique: Any,
    ) -> Self | list[Self]:
        """Like :meth:`get`, but raise :class:`NotFoundError` for any missing row.

        Example:
            >>> run(User.get_or_fail(404))
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.NotFoundError: No User with id=404.
        """
        found = await cls.get(*pks, session=session, with_deleted=with_deleted, **unique)
        info = model_info(cls)
        if isinstance(found, list):
            have = {inspect(obj).identity for obj in found}
            missing = [_as_tuple(pk) for pk in pks if _as_tuple(pk) not in have]
        elif found is None:
            missing = [_as_tuple(pks[0])] if pks else []
        else:
            return found
        if found is None and unique:
            wanted = ", ".join(f"{key}={value!r}" for key, value in unique.items())
            raise NotFoundError(f"No {cls.__name__} with {wanted}.")
        if missing:
            described = "; ".join(_describe_key(info, key) for key in missing)
            raise NotFoundError(f"No {cls.__name__} with {described}.")
        return found


def _as_tuple(pk: Any) -> tuple[Any, ...]:
    return tuple(pk) if isinstance(pk, tuple | list) else (pk,)


def _describe_key(info: ModelInfo, key: Sequence[Any]) -> str:
    return ", ".join(
        f"{name}={value!r}" for name, value in zip(info.primary_key_names, key, strict=False)
    )


def _checked_value(model: type[Any], info: ModelInfo, name: str, value: Any) -> Any:
    accepted = info.accepted_types.get(name)
    if accepted is not None and not fits(value, accepted):
        expected = " or ".join(kind.__name__ for kind in accepted)
        raise InvalidValueError(
            f"{model.__name__}.{name} is looked up with {expected}, got {type(value).__name__}."
        )
    check_integer_range(model, info, name, value)
    return value


def _checked_key(model: type[Any], info: ModelInfo, pk: Any) -> Any:
    parts = _as_tuple(pk)
    if len(parts) != len(info.primary_key_names):
        raise InvalidValueError(
            f"{model.__name__}'s primary key has {len(info.primary_key_names)} part(s) "
            f"({', '.join(info.primary_key_names)}); got {pk!r}."
        )
    for name, value in zip(info.primary_key_names, parts, strict=True):
        _checked_value(model, info, name, value)
    return parts[0] if len(parts) == 1 else parts


def _held_by(session: AsyncSession, model: type[Any], key: Any) -> Any:
    """What ``session.get`` answers from its identity map (the object, when held, of
    the model's class and not expired), found without its trip through a greenlet;
    None when ``session.get`` must look."""
    sync_session = session.sync_session
    if not sync_session.identity_map:
        return None
    mapper = inspect(model)
    identity = mapper.identity_key_from_primary_key(key if isinstance(key, tuple) else (key,))
    held = sync_session.identity_map.get(identity)
    if held is None or not isinstance(held, model):
        return None
    state: InstanceState[Any] = inspect(held)
    return None if state.expired else held


def _checked_unique(model: type[Any], info: ModelInfo, unique: dict[str, Any]) -> dict[str, Any]:
    for name, value in unique.items():
        if name not in info.unique_names:
            raise InvalidFieldError(
                f"{model.__name__}.get() looks up by primary-key or unique columns only "
                f"({', '.join(info.unique_names)}); {name!r} is not one. Use "
                f"{model.__name__}.query.where(...) for other columns.",
                model=model.__name__,
                field=name,
                valid=info.unique_names,
            )
        _checked_value(model, info, name, value)
    return unique


async def _get_many(
    session: AsyncSession, model: type[Any], info: ModelInfo, keys: list[Any], live: list[Any]
) -> list[Any]:
    mapper = inspect(model)
    columns = [getattr(model, name) for name in info.primary_key_names]
    condition = columns[0].in_(keys) if len(columns) == 1 else tuple_(*columns).in_(keys)
    rows = (await session.scalars(select(model).where(condition, *live))).all()
    by_key = {mapper.identity_key_from_instance(row)[1]: row for row in rows}
    ordered = [by_key.get(_as_tuple(key)) for key in keys]
    return [row for row in dict.fromkeys(ordered) if row is not None]
