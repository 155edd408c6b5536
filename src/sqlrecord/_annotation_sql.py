"""SQL for annotations and aggregates, the same on every database.

An aggregate's SQL type is chosen here so that a user gets the same Python
value everywhere: ``Count`` and ``Sum``/``Min``/``Max`` of whole numbers are
``int`` (MariaDB sums integers to DECIMAL, PostgreSQL sums BIGINT to NUMERIC),
``Avg`` is a ``float`` computed in double precision (PostgreSQL and MariaDB
would average to DECIMAL, MariaDB with four decimals only), other ``Sum``,
``Min`` and ``Max`` keep their argument's type. Arguments are checked before
any SQL: ``Sum`` of text, ``Min`` of a boolean and the like are refused.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Dialect, Double, distinct, func, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType, TypeDecorator

from ._column_types import accepted_types
from ._expressions import Aggregate, has_aggregate
from ._model_info import model_info
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = [
    "AsDouble",
    "WholeNumber",
    "aggregate_sql",
    "as_sql",
    "check_name",
    "check_nested",
]

_NUMBERS = frozenset({int, float})


class WholeNumber(TypeDecorator[int]):
    """A whole number read back as ``int`` whatever the driver returns (``Decimal``, too)."""

    impl = BigInteger
    cache_ok = True
    #: What a lookup on it takes (``_column_types.accepted_types`` reads this).
    accepted_types = (int,)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class AsDouble(FunctionElement[float]):
    """Its argument as a double-precision float (for ``Avg``)."""

    type = Double()
    inherit_cache = True
    name = "as_double"


@compiles(AsDouble)
def _as_double(element: AsDouble, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DOUBLE PRECISION)"


@compiles(AsDouble, "sqlite")
def _as_double_sqlite(element: AsDouble, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS REAL)"


@compiles(AsDouble, "mysql")
@compiles(AsDouble, "mariadb")
def _as_double_mysql(element: AsDouble, compiler: SQLCompiler, **kw: Any) -> str:
    # MariaDB has no CAST to DOUBLE before 10.4.5 (SQLAlchemy skips it, warning); adding
    # the float literal 0e0 makes the value a DOUBLE on every version.
    return f"({compiler.process(element.clauses, **kw)} + 0e0)"


def as_sql(value: Any) -> ColumnElement[Any] | None:
    """``value`` as a SQLAlchemy column expression (``Book.id`` too), or ``None``.

    Example:
        >>> print(as_sql(User.id)), as_sql("id") is None
        doc_users.id
        (None, True)
    """
    if isinstance(value, ColumnElement):
        return value
    clause = getattr(value, "__clause_element__", None)
    if clause is not None:
        element = clause()
        if isinstance(element, ColumnElement):
            return element
    return None


def _kinds(expression: ColumnElement[Any]) -> tuple[type, ...] | None:
    if isinstance(expression.type, NullType):
        return None
    return accepted_types(expression.type)


def aggregate_sql(aggregate: Aggregate, source: ColumnElement[Any]) -> ColumnElement[Any]:
    """The SQL of ``aggregate`` over ``source``, typed as the module docstring says.

    Example:
        >>> from sqlrecord import Avg, Sum
        >>> print(aggregate_sql(Sum("id", distinct=True), User.id))
        sum(DISTINCT doc_users.id)
        >>> aggregate_sql(Avg("email"), User.email)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: Avg('email') averages numbers; ... is text...
    """
    kind = aggregate.function
    kinds = _kinds(source)
    if kinds is not None and kind in ("sum", "avg") and not set(kinds) & _NUMBERS:
        raise InvalidValueError(
            f"{aggregate!r} {'adds' if kind == 'sum' else 'averages'} numbers; its argument "
            f"is {_describe(kinds)}. Use Count, Min or Max, or a numeric field."
        )
    if kinds == (bool,) and kind != "count":
        raise InvalidValueError(
            f"{aggregate!r}: its argument is a boolean, which not every database can "
            f"{kind}; count the rows instead (Count with a filter)."
        )
    if kind == "avg":
        averaged = AsDouble(source)
        return func.avg(distinct(averaged) if aggregate.distinct else averaged)
    argument = distinct(source) if aggregate.distinct else source
    sql: ColumnElement[Any] = getattr(func, kind)(argument)
    if kind == "count" or kinds == (int,):
        return type_coerce(sql, WholeNumber())
    return sql


def _describe(kinds: tuple[type, ...]) -> str:
    if kinds == (str,):
        return "text"
    return " or ".join(kind.__name__ for kind in kinds)


def check_nested(aggregate: Aggregate) -> None:
    """Refuse an aggregate whose argument holds another aggregate (``Sum(F("a") + Count("b"))``).

    Example:
        >>> from sqlrecord import Count, F, Sum
        >>> check_nested(Sum(F("views") + Count("id")))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: Sum(...): an aggregate cannot hold ...
    """
    if has_aggregate(aggregate.source):
        raise InvalidValueError(
            f"{type(aggregate).__name__}(...): an aggregate cannot hold another aggregate "
            f"({aggregate.source!r}). Combine aggregates outside instead: "
            "Sum('pages') / Count('id')."
        )


def check_name(model: type[Any], name: str, taken: Iterable[str], *, call: str) -> None:
    """Refuse a result name that is not an identifier, has ``__`` (lookups split there),
    starts with ``_``, is taken already, or (for ``annotate``) is an attribute of the model.

    Example:
        >>> check_name(User, "email", (), call="annotate")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: annotate(email=...): ... is a field of User; ...
    """
    why = None
    if not name.isidentifier() or keyword.iskeyword(name):
        why = "is not a Python identifier"
    elif "__" in name or name.startswith("_"):
        why = "may not start with '_' or hold '__' (lookups on it split there)"
    elif name in taken:
        why = "is given twice (each name once)"
    elif call == "annotate":
        info = model_info(model)
        if name in info.column_names or name in info.hybrid_property_names:
            why = f"is a field of {model.__name__}"
        elif name in info.relation_names:
            why = f"is a relationship of {model.__name__}"
        elif hasattr(model, name):
            why = f"is an attribute of {model.__name__} (a method or property)"
    if why is not None:
        raise InvalidFieldError(
            f"{call}({name}=...): the name {name!r} {why}; "
            + ("each object gets it as an attribute, " if call == "annotate" else "")
            + "choose another.",
            model=model.__name__,
            field=name,
            valid=[],
        )
