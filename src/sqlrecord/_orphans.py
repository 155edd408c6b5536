"""What deleting a parent does to its children, as the ORM does it, for the error that says so.

When a one-to-many relationship has no delete cascade, SQLAlchemy's unit of work
does not delete the children of a deleted parent: it sets their foreign key to
NULL. On a NOT NULL foreign key the database refuses that UPDATE, so the delete
fails with a NOT NULL violation on the child's table, not with a foreign-key
error. sqlrecord raises what the ORM meets (``NotNullError``); this module
names the relationship and the fix in its message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import RelationshipDirection

from .exceptions import NotNullError

__all__ = ["orphaned_children_error"]


def orphaned_children_error(model: type[Any], error: NotNullError) -> NotNullError | None:
    """The error for deleting a ``model`` row whose children the ORM would orphan, when
    ``error`` is the NOT NULL violation of such a child's foreign key; else ``None``.

    Example:
        >>> user = run(User.create(email="kim@example.com", posts=[Post(title="Hi")]))
        >>> run(user.delete())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.NotNullError: Deleting this User would orphan its posts: ...
        >>> orphaned_children_error(User, NotNullError("refused", constraint="x")) is None
        True
    """
    for relation in inspect(model).relationships:
        if (
            relation.direction is not RelationshipDirection.ONETOMANY
            or relation.viewonly
            or relation.cascade.delete
            or relation.passive_deletes == "all"
        ):
            continue
        for column in relation.remote_side:
            where = f"{column.table.name}.{column.name}"
            if column.nullable or error.constraint not in (column.name, where):
                continue
            parent, child = model.__name__, relation.mapper.class_.__name__
            return NotNullError(
                f"Deleting this {parent} would orphan its {relation.key}: "
                f"{parent}.{relation.key} has no delete cascade, so the ORM sets {where} "
                f"of each {child} to NULL, and that column is NOT NULL. Delete those "
                f"{child} rows first (or give them another {parent}), or declare the "
                'relationship with cascade="all, delete-orphan" to delete them with it.',
                constraint=error.constraint,
            )
    return None
