"""Private names of SQLAlchemy Core: what a custom SQL construct declares for traversal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.sql import visitors

__all__ = ["tables_from_attributes", "traversed_attributes"]

_Construct = TypeVar("_Construct", bound=type)

# The attribute kinds sqlrecord's constructs use, by the names they are declared with.
_KINDS = {
    "clause": visitors.InternalTraversal.dp_clauseelement,
    "string": visitors.InternalTraversal.dp_string,
    "boolean": visitors.InternalTraversal.dp_boolean,
}


def traversed_attributes(**kinds: str) -> Callable[[_Construct], _Construct]:
    """Class decorator: the attributes of a custom ``ColumnElement`` that SQLAlchemy
    walks (a copy, an adapted alias) and keys its statement cache on, each with its
    kind (``"clause"``, ``"string"``, ``"boolean"``), in order.

    Sets the private class attribute ``_traverse_internals``: the documented
    ``InternalTraversal`` symbols are declared through it, and the public
    ``inherit_cache`` alone would key two constructs that differ only in these
    attributes alike.

    Example:
        >>> from sqlalchemy import Boolean
        >>> from sqlalchemy.sql import ColumnElement
        >>> @traversed_attributes(column="clause", negated="boolean")
        ... class Flagged(ColumnElement[bool]):
        ...     inherit_cache = True
        ...     type = Boolean()
        >>> [name for name, _ in Flagged._traverse_internals]
        ['column', 'negated']
    """
    declared = [(name, _KINDS[kind]) for name, kind in kinds.items()]

    def declare(construct: _Construct) -> _Construct:
        target: Any = construct
        target._traverse_internals = declared
        return construct

    return declare


def tables_from_attributes(*names: str) -> Callable[[_Construct], _Construct]:
    """Class decorator: a custom ``ColumnElement`` selected on its own (``select(JsonPart(
    Doc.data, ...))``) brings the tables of its clause attributes ``names`` into FROM.

    Sets the private property ``_from_objects``, which SQLAlchemy reads to build a
    statement's FROM list; a construct without it adds no table.

    Example:
        >>> from sqlalchemy import Boolean, column, table
        >>> from sqlalchemy.sql import ColumnElement
        >>> @tables_from_attributes("column")
        ... class Wrapped(ColumnElement[bool]):
        ...     inherit_cache = True
        ...     type = Boolean()
        ...     def __init__(self, inner):
        ...         self.column = inner
        >>> [str(t) for t in Wrapped(table("t", column("a")).c.a)._from_objects]
        ['t']
    """

    def froms(self: Any) -> list[Any]:
        found: list[Any] = []
        for name in names:
            for item in getattr(self, name)._from_objects:
                if item not in found:
                    found.append(item)
        return found

    def declare(construct: _Construct) -> _Construct:
        target: Any = construct
        target._from_objects = property(froms)
        return construct

    return declare
