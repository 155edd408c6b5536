"""The writing terminals of a query: one UPDATE or DELETE over the rows it matches.

No objects are loaded: the statement runs in a write scope (committed unless
the session is served; in an own session, in autocommit where the planner proves
it is the one statement sent) and returns how many rows matched. Values are
checked like ``fill`` checks them, before any SQL.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.sql import ColumnElement

from ._field_expressions import holds_expression, row_value
from ._model_info import model_info
from ._protection import is_trusted, protected_error
from ._query_building import QueryBuilding, primary_key_columns
from ._scope import SessionScope
from ._select_parts import JoinPlan
from ._soft import soft_delete_column
from ._values import check_column_value
from .exceptions import InvalidFieldError, InvalidValueError
from .types import utc_now

__all__ = ["QueryWrites"]

M = TypeVar("M")


class QueryWrites(QueryBuilding[M]):
    """Bulk UPDATE and DELETE, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> _ = run(User.create(email="kim@example.com"))
        >>> run(User.filter_by(name=None).update(name="Kim")), run(User.filter_by().delete())
        (1, 1)
    """

    __slots__ = ()

    def _target_condition(self) -> list[ColumnElement[bool]]:
        """WHERE for a bulk UPDATE/DELETE: the filters, or the page of keys the query selects."""
        if self._limit is None and self._offset is None and not self._order:
            return self._where()
        keys = primary_key_columns(self._model)
        chosen = self._select(select(*keys), JoinPlan(self._model), nulls=True).subquery()
        # A derived table: MySQL refuses LIMIT in an IN subquery, and a subquery
        # on the table being changed, unless it is materialised like this.
        inner = select(*[chosen.c[key.key] for key in keys])
        return [keys[0].in_(inner) if len(keys) == 1 else tuple_(*keys).in_(inner)]

    async def update(self, /, **values: Any) -> int:
        """UPDATE the matching rows in one statement; returns how many matched.

        Only settable columns may be set, and protected ones only through
        ``using(allow_protected=...)`` (checked like ``fill``); ``updated_at``
        is refreshed by the database. No objects are loaded. A value may be
        computed by the database from the row's own fields: ``F("views") + 1``
        (or ``Post.views + 1``), one atomic statement.

        Example:
            >>> _ = run(User.create(email="kim@example.com"))
            >>> run(User.filter_by(email__endswith="@example.com").update(name="Kim"))
            1
            >>> from sqlrecord import Coalesce, F
            >>> run(User.filter_by(name="Kim").update(name=Coalesce(F("name"), F("email"))))
            1
        """
        if not values:
            raise InvalidValueError("update() needs at least one field=value.")
        info = model_info(self._model)
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name not in info.settable_column_names:
                raise InvalidFieldError.unknown(
                    self._model.__name__, name, info.settable_column_names
                )
            if name in info.protected_names and not is_trusted(name, self._protected):
                raise protected_error(self._model, name)
            if holds_expression(value):
                value = row_value(self._model, name, value, context="update()")
            else:
                check_column_value(self._model, name, value)
            checked[name] = value
        statement = update(self._model).where(*self._target_condition()).values(checked)
        return await self._execute_write(statement, "update")

    async def delete(self) -> int:
        """DELETE the matching rows in one statement (soft-delete models: mark them).

        Returns how many rows matched. ORM cascades do not run; the database's
        ``ON DELETE`` rules do.

        Example:
            >>> _ = run(User.create(email="kim@example.com"))
            >>> run(User.filter_by(email="kim@example.com").delete())
            1
        """
        column = soft_delete_column(self._model)
        if column is not None and not self._with_deleted:
            statement = (
                update(self._model).where(*self._target_condition()).values({column: utc_now()})
            )
            return await self._execute_write(statement, "delete")
        return await self.hard_delete()

    async def hard_delete(self) -> int:
        """DELETE the matching rows, soft-delete models included.

        Example:
            >>> run(User.filter_by(email="nobody@example.com").hard_delete())
            0
        """
        statement = delete(self._model).where(*self._target_condition())
        return await self._execute_write(statement, "hard_delete")

    async def _execute_write(self, statement: Any, operation: str) -> int:
        scope = self._write_scope(operation)
        # Objects of the matched rows that the session holds follow the write ("fetch", as
        # the ORM does); an own session holds none, so it sends the statement alone (on
        # MariaDB, whose UPDATE returns no rows, "fetch" would SELECT the keys first), and
        # where that is provably all it sends, in autocommit (the planner's choice).
        synchronize = "fetch" if scope.served else False
        async with scope:
            options = {"synchronize_session": synchronize}
            result = await scope.execute_write(statement.execution_options(**options))
            return int(result.rowcount)

    def _write_scope(self, operation: str) -> SessionScope:
        return SessionScope(
            self._model,
            self._session,
            write=True,
            auto_commit=self._auto_commit,
            defer_begin=True,  # the statement decides: execute_write plans it
            operation=operation,
        )
