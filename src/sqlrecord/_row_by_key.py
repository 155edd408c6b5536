"""A loaded object's row updated or deleted by Core by its key, and the object left as
the ORM's flush leaves it.

The planner takes this route (``Route.CONNECTION_UPDATE``) for an own session's ``save``
of a detached object, loaded earlier, where ``_unwatched_by_key.why_row_update_differs``
and ``_one_statement.why_not_one_statement`` find nothing that could tell it from adding
the object to the session and a flush, and nothing listens to sessions. The UPDATE is
the flush's: the changed columns, by the object's key; the flush's check follows, that
it matched one row (``StaleDataError``, as the flush raises it, where the driver counts
matched rows). The object is then left with no history, in no session.

Likewise ``Route.CONNECTION_DELETE`` for an own session's ``delete`` where
``_unwatched_by_key.why_row_delete_differs`` finds nothing: the DELETE by the object's
key, the flush's warning when it matched no row, the object then deleted and detached.
"""

from __future__ import annotations

import warnings
from typing import Any

from sqlalchemy import Delete, Update, inspect
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm.exc import StaleDataError

from ._internals import mark_deleted, mark_updated, write_alone

__all__ = ["delete_row_alone", "update_row_alone"]


async def update_row_alone(
    bind: AsyncEngine, obj: Any, row_update: tuple[Update, dict[str, Any]]
) -> None:
    """Write the detached ``obj``'s changes by ``row_update`` (the UPDATE and its
    parameters, ``_unwatched_by_key.why_row_update_differs``'s) on a connection of
    ``bind`` (an autocommit engine) of its own, and settle ``obj`` as the flush leaves it.

    Example:
        >>> from sqlrecord._unwatched_by_key import why_row_update_differs
        >>> label = run(Label.create(name="hi"))
        >>> label.name = "hello"
        >>> run(update_row_alone(db._autocommit_engine, label, why_row_update_differs(label)[1]))
        >>> inspect(label).modified, run(Label.get(label.id)).name
        (False, 'hello')
    """
    statement, parameters = row_update
    result = await write_alone(bind, statement, parameters)
    matched = result.rowcount
    if bind.dialect.supports_sane_rowcount and matched != 1:
        # The flush's own error, word for word: sqlrecord's translation knows it.
        raise StaleDataError(
            f"UPDATE statement on table '{statement.table.description}' expected to "
            f"update 1 row(s); {matched} were matched."
        )
    mark_updated(inspect(obj))


async def delete_row_alone(
    bind: AsyncEngine, obj: Any, row_delete: tuple[Delete, dict[str, Any]]
) -> None:
    """Delete the detached ``obj``'s row by ``row_delete`` (the DELETE and its parameters,
    ``_unwatched_by_key.why_row_delete_differs``'s) on a connection of ``bind`` (an
    autocommit engine) of its own, and leave ``obj`` deleted, as the flush does.

    Example:
        >>> from sqlrecord._unwatched_by_key import why_row_delete_differs
        >>> label = run(Label.create(name="hi"))
        >>> run(delete_row_alone(db._autocommit_engine, label, why_row_delete_differs(label)[1]))
        >>> inspect(label).was_deleted, run(Label.get(label.id)) is None
        (True, True)
    """
    statement, parameters = row_delete
    result = await write_alone(bind, statement, parameters)
    matched = result.rowcount
    mapper = inspect(type(obj))
    if mapper.base_mapper.confirm_deleted_rows and matched > -1 and matched != 1:
        # The flush's own warning, word for word (it raises only for a versioned model).
        warnings.warn(
            f"DELETE statement on table '{statement.table.description}' expected to delete "
            f"1 row(s); {matched} were matched.  Please set confirm_deleted_rows=False "
            "within the mapper configuration to prevent this warning.",
            SAWarning,
            stacklevel=2,
        )
    mark_deleted(inspect(obj))
