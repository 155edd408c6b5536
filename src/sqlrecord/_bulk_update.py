"""``bulk_update``: objects' current values of some fields, one executemany UPDATE by key.

Everything the call is given is checked here before any SQL: the fields
(settable columns, protected ones only when trusted, never the primary key), the
objects (stored rows of the model, their fields loaded, one object per row) and
their values (as ``fill`` checks them). The statements are
``_bulk_update_sql``'s.

The objects' changes to the fields are what the call writes: they stop being
pending changes when it starts (a served unit's flush then leaves them alone) and
become pending again if it fails; on success the objects take the new version and
the values the database set.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.sql import ClauseElement

from ._bulk_update_sql import UpdatePlan, describe_key
from ._in_bulk import field_name
from ._internals import NO_VALUE
from ._model_info import model_info
from ._protection import is_trusted, protected_error
from ._scope import SessionScope
from ._values import check_rows
from .exceptions import InvalidFieldError, InvalidValueError, NotLoadedError

__all__ = ["bulk_update", "checked_fields"]


async def bulk_update(
    model: type[Any],
    objs: Iterable[Any],
    fields: Iterable[Any],
    *,
    batch_size: int = 1000,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> int:
    """The body of :meth:`BulkMixin.bulk_update <sqlrecord.BulkMixin.bulk_update>`,
    its options as parameters.

    Example:
        >>> users = [run(User.create(email=f"{n}@example.com")) for n in "ab"]
        >>> for user in users:
        ...     user.name = user.email[0].upper()
        >>> run(bulk_update(User, users, ["name"]))
        2
    """
    names = checked_fields(model, fields, allow_protected)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidValueError(f"batch_size takes a whole number >= 1, got {batch_size!r}.")
    targets = _targets(model, objs, names)
    if not targets:
        return 0
    check_rows(model, [{name: instance_state(obj).dict[name] for name in names} for obj in targets])
    plan = UpdatePlan(model, names)
    scope = SessionScope(
        model, session, write=True, auto_commit=auto_commit, operation="bulk_update"
    )
    # The fields' changes are what this call writes: committed on the objects now,
    # so that a flush of the unit (a served scope's SAVEPOINT flushes first) leaves
    # them to this call's UPDATE. Should the call fail, they are changes again.
    undo = [_Pending(obj, names) for obj in targets]
    for obj in targets:
        values = instance_state(obj).dict
        for name in names:
            set_committed_value(obj, name, values[name])
    try:
        async with scope:
            s = scope.session
            with s.no_autoflush:
                written = await plan.write(s, targets, batch_size)
    except BaseException:
        for pending in undo:
            pending.restore()
        raise
    written.apply(scope.session)
    return len(targets)


def checked_fields(
    model: type[Any], fields: Iterable[Any], allow_protected: bool | Collection[str]
) -> list[str]:
    """The names ``bulk_update`` sets: settable columns, protected ones only when trusted,
    never the primary key; at least one.

    Example:
        >>> checked_fields(User, ["name", User.email, "name"], False)
        ['name', 'email']
        >>> checked_fields(User, ["is_admin"], False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.ProtectedFieldError: User.is_admin is protected ...
    """
    label = model.__name__
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise InvalidValueError(
            f"{label}.bulk_update() takes a list of field names, got {type(fields).__name__} "
            f"({fields!r:.60}); write [{fields!r:.40}] for one field."
        )
    info = model_info(model)
    names: list[str] = []
    for field in fields:
        name = field_name(model, field, call="bulk_update")
        if name in info.primary_key_names:
            raise InvalidFieldError(
                f"{label}.bulk_update() finds each row by its primary key ({name}) and cannot "
                f"change it. Fields it can set: {', '.join(info.settable_column_names)}.",
                model=label,
                field=name,
                valid=info.settable_column_names,
            )
        if name not in info.settable_column_names:
            raise InvalidFieldError.unknown(label, name, info.settable_column_names)
        if name in info.protected_names and not is_trusted(name, allow_protected):
            raise protected_error(model, name)
        names.append(name)
    if not names:
        raise InvalidValueError(f"{label}.bulk_update() needs at least one field name.")
    return list(dict.fromkeys(names))


def _targets(model: type[Any], objs: Iterable[Any], names: list[str]) -> list[Any]:
    """The distinct objects to write, each a stored ``model`` with its fields loaded."""
    label = model.__name__
    if isinstance(objs, str | bytes) or not isinstance(objs, Iterable):
        raise InvalidValueError(
            f"{label}.bulk_update() takes a list of {label} objects, got {type(objs).__name__}."
        )
    version = inspect(model).version_id_col
    version_key = None if version is None else inspect(model).get_property_by_column(version).key
    needed = [*names, *([version_key] if version_key else [])]
    seen: dict[int, Any] = {}
    by_key: dict[Any, Any] = {}
    for obj in objs:
        if id(obj) in seen:
            continue
        if not isinstance(obj, model):
            raise InvalidValueError(
                f"{label}.bulk_update() takes {label} objects, got {type(obj).__name__}."
            )
        state: InstanceState[Any] = instance_state(obj)
        if state.key is None or state.deleted or state.was_deleted:
            what = "was deleted" if state.key is not None else "was never saved"
            raise InvalidValueError(
                f"{label}.bulk_update() writes rows that exist, and {obj!r} {what}. "
                "Save new objects with save() or bulk_create() instead."
            )
        if state.key in by_key:
            raise InvalidValueError(
                f"{label}.bulk_update() got two different objects for the row "
                f"{describe_key(model, state.key)}. Pass one object per row."
            )
        for name in needed:
            value = state.dict.get(name, NO_VALUE)
            if value is NO_VALUE:
                raise NotLoadedError(
                    f"{label}.{name} of {obj!r} is not loaded (expired or deferred), and "
                    "bulk_update() sends the values the objects hold. Load the objects "
                    f"again, with {name!r} not deferred."
                )
            if isinstance(value, ClauseElement) and name in names:
                raise InvalidValueError(
                    f"{label}.bulk_update() sends the objects' plain values, but "
                    f"{label}.{name} of {obj!r} holds a SQL expression. Use save(), or "
                    f"{label}.filter_by(...).update({name}=...)."
                )
        seen[id(obj)] = by_key[state.key] = obj
    return list(seen.values())


class _Pending:
    """The changes of one object's fields before the call, to put back if it fails."""

    __slots__ = ("changed", "obj")

    def __init__(self, obj: Any, names: list[str]) -> None:
        state: InstanceState[Any] = instance_state(obj)
        self.obj = obj
        self.changed = {
            name: (state.committed_state[name], state.dict[name])
            for name in names
            if name in state.committed_state
        }

    def restore(self) -> None:
        state: InstanceState[Any] = instance_state(self.obj)
        for name, (original, value) in self.changed.items():
            if original is NO_VALUE:
                state.dict.pop(name, None)
            else:
                set_committed_value(self.obj, name, original)
            setattr(self.obj, name, value)
