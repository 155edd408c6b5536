"""Expressions over a model's fields: ``F("views") + 1``, ``Count("books")``, ``Coalesce(...)``.

They name fields the way lookups do (``author__name``) and hold no SQL: a
query turns one into SQL only against its model, through :func:`compile_expression`,
which each caller gives its own way of reaching a field and an aggregate (a
filter reaches a to-one field with a subquery, a grouped SELECT with a join).
So every name is checked against the model before any SQL exists, and the
same expression means the same thing on every database.

SQLAlchemy expressions (``Post.views + 1``, ``func.count(Book.id)``) may stand
wherever these do, for teams that prefer what mypy can check.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql import ColumnElement

from .exceptions import InvalidValueError

__all__ = [
    "Aggregate",
    "Avg",
    "Coalesce",
    "Combined",
    "Count",
    "Expression",
    "ExpressionCompiler",
    "F",
    "Max",
    "Min",
    "Sum",
    "compile_expression",
    "has_aggregate",
]

#: Plain Python values an expression may combine with (bound as parameters).
_PLAIN = (int, float, decimal.Decimal, str, dt.date, dt.datetime, dt.time, dt.timedelta)

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def _operand(value: Any, symbol: str) -> Any:
    if isinstance(value, Expression | ColumnElement):
        return value
    clause = getattr(value, "__clause_element__", None)
    if clause is not None:  # a mapped attribute (Book.pages): its column
        return clause()
    if isinstance(value, bool) or not isinstance(value, _PLAIN):
        raise InvalidValueError(
            f"An expression takes fields (F), SQLAlchemy expressions and plain numbers, "
            f"text or dates; cannot apply {symbol!r} to {type(value).__name__}."
        )
    return value


class Expression:
    """A value computed from a row's fields; combine with ``+ - * /``.

    Example:
        >>> print(repr(F("views") * 2 + 1))
        ((F('views') * 2) + 1)
        >>> print(repr(F("id") + User.id))  # a mapped attribute stands for its column
        (F('id') + Column('id', Integer(), table=<doc_users>, primary_key=True, nullable=False))
    """

    __slots__ = ()

    def _combine(self, symbol: str, left: Any, right: Any) -> Combined:
        return Combined(symbol, _operand(left, symbol), _operand(right, symbol))

    def __add__(self, other: Any) -> Combined:
        return self._combine("+", self, other)

    def __radd__(self, other: Any) -> Combined:
        return self._combine("+", other, self)

    def __sub__(self, other: Any) -> Combined:
        return self._combine("-", self, other)

    def __rsub__(self, other: Any) -> Combined:
        return self._combine("-", other, self)

    def __mul__(self, other: Any) -> Combined:
        return self._combine("*", self, other)

    def __rmul__(self, other: Any) -> Combined:
        return self._combine("*", other, self)

    def __truediv__(self, other: Any) -> Combined:
        return self._combine("/", self, other)

    def __rtruediv__(self, other: Any) -> Combined:
        return self._combine("/", other, self)

    def __neg__(self) -> Combined:
        return self._combine("*", self, -1)

    def __bool__(self) -> bool:
        # `F("a") == F("b")` is not a comparison here; lookups compare (`a=F("b")`).
        raise TypeError(
            "An expression has no truth value; compare it in a lookup "
            "(filter_by(stock__lt=F('reserved'))), not with Python operators."
        )


class F(Expression):
    """A field of the row itself (``"views"``), or one reached through to-one
    relationships (``"author__name"``); checked against the model when used.

    Example:
        >>> F("views").name
        'views'
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidValueError(f"F takes a field name, got {name!r}.")
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class Combined(Expression):
    """Two operands joined by ``+``, ``-``, ``*`` or ``/``.

    Example:
        >>> (F("views") + 1).symbol
        '+'
    """

    __slots__ = ("left", "right", "symbol")

    def __init__(self, symbol: str, left: Any, right: Any) -> None:
        self.symbol, self.left, self.right = symbol, left, right

    def __repr__(self) -> str:
        return f"({self.left!r} {self.symbol} {self.right!r})"


class Aggregate(Expression):
    """An aggregate over a field (``"pages"``, ``"books__pages"``) or an expression.

    ``distinct=True`` aggregates each distinct value once. Subclasses name the
    SQL function.

    Example:
        >>> Count("books", distinct=True).function, Sum("pages").source
        ('count', 'pages')
    """

    __slots__ = ("distinct", "source")
    function = ""

    def __init__(
        self, source: str | Expression | ColumnElement[Any], *, distinct: bool = False
    ) -> None:
        clause = getattr(source, "__clause_element__", None)
        if clause is not None:  # a mapped attribute (Book.pages): its column
            source = clause()
        if not isinstance(source, str | Expression | ColumnElement) or (
            isinstance(source, str) and not source
        ):
            raise InvalidValueError(
                f"{type(self).__name__} takes a field name, F(...) or a SQLAlchemy "
                f"expression, got {source!r:.60}."
            )
        if isinstance(source, Aggregate):
            raise InvalidValueError(f"{type(self).__name__} cannot take another aggregate.")
        if not isinstance(distinct, bool):
            raise InvalidValueError(f"distinct takes True or False, got {distinct!r}.")
        self.source, self.distinct = source, distinct

    def __repr__(self) -> str:
        extra = ", distinct=True" if self.distinct else ""
        return f"{type(self).__name__}({self.source!r}{extra})"


class Count(Aggregate):
    """How many values (NULLs not counted); ``Count("books")`` counts related rows.

    Example:
        >>> Count("id")
        Count('id')
    """

    __slots__ = ()
    function = "count"


class Sum(Aggregate):
    """The sum of a field (``None`` over no rows; wrap in ``Coalesce`` for 0).

    Example:
        >>> Sum("pages")
        Sum('pages')
    """

    __slots__ = ()
    function = "sum"


class Avg(Aggregate):
    """The average of a field.

    Example:
        >>> Avg("pages")
        Avg('pages')
    """

    __slots__ = ()
    function = "avg"


class Min(Aggregate):
    """The smallest value of a field.

    Example:
        >>> Min("pages")
        Min('pages')
    """

    __slots__ = ()
    function = "min"


class Max(Aggregate):
    """The largest value of a field.

    Example:
        >>> Max("pages")
        Max('pages')
    """

    __slots__ = ()
    function = "max"


class Coalesce(Expression):
    """The first of its values that is not NULL (``Coalesce(Sum("pages"), 0)``).

    Example:
        >>> Coalesce(F("nickname"), F("name"), "anonymous")
        Coalesce(F('nickname'), F('name'), 'anonymous')
    """

    __slots__ = ("values",)

    def __init__(self, *values: Any) -> None:
        if len(values) < 2:
            raise InvalidValueError("Coalesce takes at least two values.")
        self.values = tuple(_operand(value, "Coalesce") for value in values)

    def __repr__(self) -> str:
        return f"Coalesce({', '.join(map(repr, self.values))})"


@dataclass(frozen=True)
class ExpressionCompiler:
    """How one context reaches what an expression names.

    ``field`` turns a field path (``"author__name"``) into SQL, checking it;
    ``aggregate`` turns an :class:`Aggregate` into SQL, or is ``None`` where
    aggregates make no sense (a filter on rows, an UPDATE).
    """

    field: Callable[[str], ColumnElement[Any]]
    aggregate: Callable[[Aggregate], ColumnElement[Any]] | None = None
    context: str = "this call"


def compile_expression(value: Any, compiler: ExpressionCompiler) -> Any:
    """SQL for ``value``: expressions compiled, SQLAlchemy and plain values as they are.

    Example:
        >>> from sqlalchemy import column
        >>> compiler = ExpressionCompiler(field=column)
        >>> print(compile_expression(F("views") + 1, compiler))
        views + :views_1
    """
    if isinstance(value, F):
        return compiler.field(value.name)
    if isinstance(value, Combined):
        left = compile_expression(value.left, compiler)
        right = compile_expression(value.right, compiler)
        return _OPERATORS[value.symbol](left, right)
    if isinstance(value, Aggregate):
        if compiler.aggregate is None:
            raise InvalidValueError(
                f"{value!r}: aggregates belong in annotate() or aggregate(), not in "
                f"{compiler.context}."
            )
        return compiler.aggregate(value)
    if isinstance(value, Coalesce):
        return func.coalesce(*(compile_expression(item, compiler) for item in value.values))
    return value


def has_aggregate(value: Any) -> bool:
    """Whether ``value`` is or holds an :class:`Aggregate`.

    Example:
        >>> has_aggregate(Coalesce(Sum("pages"), 0)), has_aggregate(F("pages") + 1)
        (True, False)
    """
    if isinstance(value, Aggregate):
        return True
    if isinstance(value, Combined):
        return has_aggregate(value.left) or has_aggregate(value.right)
    if isinstance(value, Coalesce):
        return any(has_aggregate(item) for item in value.values)
    return False
