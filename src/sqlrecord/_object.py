"""``ObjectMixin``: an object that knows its session and query, and can ``fill`` and ``save``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Self

from sqlalchemy import Select, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.attributes import set_committed_value

from ._class_property import class_property
from ._field_expressions import (
    computed_keys,
    holds_expression,
    is_sql_expression,
    read_computed,
    row_value,
)
from ._introspection import BaseMixin
from ._model_info import ModelInfo, model_info
from ._protection import is_trusted, protected_error
from ._reload import reload_attributes
from ._scope import SessionScope
from ._snapshot import Snapshot
from ._values import check_assigned_values, check_column_value, check_integer_range, check_value
from .exceptions import (
    InvalidFieldError,
    InvalidValueError,
    NoSessionError,
    NotFoundError,
    NotLoadedError,
)

__all__ = [
    "FORM_NOISE",
    "ObjectMixin",
    "check_column_value",
    "check_integer_range",
]

#: Keys that HTML forms send along with the data; ``fill`` skips them silently.
FORM_NOISE = frozenset({"csrf_token", "submit"})


class ObjectMixin(BaseMixin):
    """Object-level behaviour: ``session``, ``query``, ``fill`` and ``save``.

    Example:
        >>> user = User().fill(email="kim@example.com")
        >>> run(user.save()).id is not None
        True
    """

    @property
    def session(self) -> AsyncSession:
        """The ``AsyncSession`` this object is attached to.

        Raises :class:`~sqlrecord.exceptions.NoSessionError` when it is not
        attached to one (a new object, or one returned by a call that used its
        own session and closed it).

        Example:
            >>> async def same_session() -> bool:
            ...     async with db.transaction() as session:
            ...         user = await User.create(email="kim@example.com")
            ...         return user.session is session
            >>> run(same_session())
            True
        """
        session = async_object_session(self)
        if session is None:
            raise NoSessionError(
                f"This {type(self).__name__} is not attached to a session. Give one "
                "(`Model.using(session)`, `save(session=...)`), work inside "
                "`async with db.transaction():` or a request that depends on `db.session`, "
                "or let sqlrecord open its own (pass nothing)."
            )
        return session

    @class_property
    def query(cls: type[Any]) -> Select[Any]:
        """The model's default query, ``select(cls)``, ready for ``.where(...)``.

        Example:
            >>> print(User.query.where(User.name == "Kim").limit(1))  # doctest: +ELLIPSIS
            SELECT doc_users.id, doc_users.email, ... FROM doc_users
            WHERE doc_users.name = :name_1
             LIMIT :param_1
        """
        return select(cls)

    def fill(self, data: Mapping[str, Any] | None = None, /, **values: Any) -> Self:
        """Set attributes from a form or a request body, safely; returns the object.

        Every key is a field name: ``fill`` has no options, so a form cannot
        switch anything off (a key ``"allow_protected"`` is refused like any
        unknown field). ``data`` (a mapping) and keyword values are merged.

        The design notes' four rules, plus two:

        1. ``csrf_token``, ``submit`` and ``hidden_*`` keys are skipped.
        2. A name that is not a settable attribute (see ``settable_attributes``)
           or a property with a setter raises :class:`InvalidFieldError`, listing
           the settable names. ``created_at`` and database-generated primary keys
           are never settable; a natural primary key (one the database does not
           generate) only on an object that was never saved.
        3. A column value equal to the loaded one is skipped (no needless UPDATE).
        4. A single object given for a list relationship is appended; anything
           else is assigned.
        5. Names in ``__protected_attributes__`` raise :class:`ProtectedFieldError`.
           Trusted code sets them as attributes (``user.is_admin = True``) or
           writes through ``Model.using(allow_protected=...)``.
        6. Values are checked against the column type and length first, and all
           names are checked before any is set: a rejected call changes nothing.

        Example:
            >>> user = User().fill(email="kim@example.com", csrf_token="x")
            >>> user.fill(id=3)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.InvalidFieldError: Cannot set 'id' on User: ...
            >>> user.fill({"is_admin": True, "allow_protected": True})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.ProtectedFieldError: User.is_admin is protected ...
        """
        self._apply_fill(self._plan_fill({**(data or {}), **values}, False))
        return self

    def _plan_fill(
        self, values: dict[str, Any], allow_protected: bool | Collection[str]
    ) -> list[tuple[str, Any]]:
        """Check every key and value; return what to assign. Raises before anything is set."""
        cls = type(self)
        info = model_info(cls)
        settable = info.settable_attribute_set
        planned: list[tuple[str, Any]] = []
        for name, value in values.items():
            if name in FORM_NOISE or name.startswith("hidden_"):
                continue
            if name in info.protected_names and not is_trusted(name, allow_protected):
                raise protected_error(cls, name)
            if name in settable or (name in info.natural_key_names and inspect(self).key is None):
                if value is None and name in info.list_relation_names:
                    raise InvalidValueError(
                        f"{cls.__name__}.{name} is a collection: give a list of "
                        f"{info.relation_targets[name].__name__} objects ([] for none), "
                        "not None."
                    )
                if holds_expression(value):  # computed by the database from the row
                    value = row_value(cls, name, value, context="fill()", new=_is_new(self))
                else:
                    check_value(cls, info, name, value)
            elif not _is_writable_property(cls, name):
                raise InvalidFieldError.unknown(cls.__name__, name, info.fillable_names)
            planned.append((name, value))
        return planned

    def _apply_fill(self, planned: list[tuple[str, Any]]) -> None:
        info = model_info(type(self))
        state: InstanceState[Any] = inspect(self)
        for name, value in planned:
            self._assign(info, state, name, value)

    def _assign(self, info: ModelInfo, state: InstanceState[Any], name: str, value: Any) -> None:
        persistent = state.key is not None
        if name in info.column_set:
            if (
                persistent
                and name not in state.unloaded
                and not is_sql_expression(value)  # never equal: the database computes it
                and state.dict.get(name) == value
            ):
                return
            setattr(self, name, value)
            return
        if persistent and name in info.needs_loaded_names and name in state.unloaded:
            # Replacing a collection or a one-to-one value must read the old
            # one first, which an async session cannot do on attribute access.
            raise NotLoadedError.for_attribute(type(self).__name__, name)
        if name in info.list_relation_names:
            if isinstance(value, list | tuple | set | frozenset):
                setattr(self, name, list(value))
            else:
                getattr(self, name).append(value)
            return
        setattr(self, name, value)

    async def load_related(self, *names: str, session: AsyncSession | None = None) -> Self:
        """Load relationships of this object now, so touching them needs no query later.

        Uses the object's session (or ``session=``, or the ambient one); a
        detached object is loaded in a session of its own, closed before return.

        Example:
            >>> author = run(User.create(email="kim@example.com"))
            >>> _ = run(Post.create(title="Hello", author=author))
            >>> [post.title for post in run(author.load_related("posts")).posts]
            ['Hello']
        """
        info = model_info(type(self))
        for name in names:
            if name not in info.relation_names:
                raise InvalidFieldError.no_relationship(
                    type(self).__name__, name, info.relation_names
                )
        return await reload_attributes(self, names, session, "load_related")

    async def refresh(self, *names: str, session: AsyncSession | None = None) -> Self:
        """Read this object's columns again (all loaded ones, or the named ones) from its row.

        Names a column that ``only()``/``defer()`` or the mapping left unloaded to load
        it now; relationships are named too. Sessions as in :meth:`load_related`.

        Example:
            >>> user = run(User.create(email="kim@example.com", name="Kim"))
            >>> slim = run(User.filter_by(id=user.id).only("email").one())
            >>> run(slim.refresh("name")).name
            'Kim'
        """
        info, model = model_info(type(self)), type(self).__name__
        valid = (*info.column_names, *info.relation_names)
        for name in names:
            if name not in valid:
                raise InvalidFieldError(
                    f"{model}.refresh() got {name!r}, which is not a column or relationship "
                    f"of {model}. Names: {', '.join(valid)}.",
                    model=model,
                    field=name,
                    valid=valid,
                )
        return await reload_attributes(self, names, session, "refresh")

    async def save(self, *, session: AsyncSession | None = None, auto_commit: bool = False) -> Self:
        """Write this object: INSERT when new, UPDATE of the changed columns otherwise.

        With a served session (``session=``, the one the object is attached
        to, or the ambient one) it flushes inside a SAVEPOINT and commits only
        with ``auto_commit=True``. With none, it opens its own session, commits
        and closes it; the object comes back detached with its values loaded.

        A failed save raises a typed error, writes nothing, and leaves the
        object as it was before the call.

        Example:
            >>> user = run(User.create(email="a@example.com", name="A"))
            >>> user.name = "B"
            >>> run(user.save()) is user
            True
            >>> run(User.get(user.id)).name
            'B'
        """
        return await self._write(session=session, auto_commit=auto_commit)

    async def _write(
        self,
        *,
        session: AsyncSession | None,
        auto_commit: bool,
        planned: list[tuple[str, Any]] | None = None,
        operation: str = "save",
    ) -> Self:
        """Apply ``planned`` assignments and flush, all inside one session scope.

        A served scope begins its SAVEPOINT on entering; ``begin_nested()`` flushes
        what the unit already has pending first, as any ORM flush would. The
        call's own assignments are applied after that, so that they, and the
        objects a backref or cascade brings along, are inside the SAVEPOINT.
        """
        state: InstanceState[Any] = inspect(self)
        if state.was_deleted:
            raise NotFoundError(
                f"This {type(self).__name__} was deleted; build a new object to insert it again."
            )
        check_assigned_values(self, state)
        target = session if session is not None else async_object_session(self)
        scope = SessionScope(
            type(self),
            target,
            write=True,
            auto_commit=auto_commit,
            defer_begin=True,
            operation=operation,
        )
        # Objects a failed write can disturb: this one and the ones it links to
        # (a rolled-back flush expires them all, which async code cannot undo).
        linked = _linked_objects(self, planned)
        snapshots = [Snapshot(each) for each in linked]
        if scope.served and planned is None and _pulled_in(scope.session, self, linked):
            # A backref already changed an object of the unit (Post(author=author)):
            # the unit's pending flush needs this object, as after session.add().
            scope.session.add(self)
        # Values the database computes (F("views") + 1) are read back after the flush:
        # noted now, as entering a served scope may flush what is pending already.
        computed = computed_keys(state)
        try:
            async with scope:
                if planned:
                    self._apply_fill(planned)
                    # A hybrid or property setter may have set columns fill did not see.
                    check_assigned_values(self, state)
                    computed += computed_keys(state)
                await _flush_into(scope, self, computed)
        except BaseException:
            for snapshot in snapshots:
                snapshot.restore()
            raise
        return self


def _pulled_in(session: AsyncSession, obj: Any, linked: list[Any]) -> bool:
    """Whether ``obj``, in no session, is already part of ``session``'s pending changes
    through an object of the session it links to."""
    state: InstanceState[Any] = inspect(obj)
    if state.session_id is not None:
        return False
    if state.key is not None and state.key in session.sync_session.identity_map:
        return False  # the session holds the row: the write merges
    return any(each is not obj and each in session and inspect(each).modified for each in linked)


def _is_new(obj: Any) -> bool:
    return inspect(obj).key is None


def _is_writable_property(model: type[Any], name: str) -> bool:
    for klass in model.__mro__:
        if name in vars(klass):
            descriptor = vars(klass)[name]
            return isinstance(descriptor, property) and descriptor.fset is not None
    return False


def _linked_objects(obj: Any, planned: list[tuple[str, Any]] | None) -> list[Any]:
    """``obj`` and the mapped objects it refers to (loaded or about to be assigned)."""
    info = model_info(type(obj))
    found: dict[int, Any] = {id(obj): obj}
    loaded = inspect(obj).dict
    candidates = [loaded.get(name) for name in info.relation_names]
    candidates += [value for name, value in planned or () if name in info.relation_targets]
    for value in candidates:
        for each in value if isinstance(value, list | set | tuple) else (value,):
            if each is not None and inspect(each, raiseerr=False) is not None:
                found.setdefault(id(each), each)
    return list(found.values())


async def _flush_into(scope: SessionScope, obj: Any, computed: list[str]) -> None:
    """Make ``obj`` part of the scope's session (add, or merge onto the copy it
    holds), flush it as the scope plans, and read back the ``computed`` columns."""
    state: InstanceState[Any] = inspect(obj)
    # An own session not opened yet holds nothing: its model (planned_on) says so.
    sync_session = scope.planned_on.sync_session
    if state.session_id == sync_session.hash_key:
        await scope.flush(obj)
        await read_computed(scope.session, obj, computed)
        return
    held = sync_session.identity_map.get(state.key) if state.key is not None else None
    if state.session_id is None and held is None:
        if not computed and await scope.write_row(obj):
            return
        session = scope.session
        session.add(obj)
        await scope.flush(obj)
        await read_computed(session, obj, computed)
        return
    # Attached to another session, or this session already holds the row:
    # copy the changes onto the session's instance, then read the result back.
    session = scope.session
    await scope.begin(because="the row is merged onto the session's copy first")
    merged = await session.merge(obj)
    await scope.flush(merged)
    await read_computed(session, merged, computed)
    merged_values = inspect(merged).dict
    for prop in state.mapper.column_attrs:  # column_property values included
        if prop.key in merged_values:
            set_committed_value(obj, prop.key, merged_values[prop.key])
