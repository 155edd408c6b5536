"""Expressions (``F("views") + 1``) resolved against one model: their SQL, and what they give.

An ``F`` names a field of the row the statement is about: the query's model in
a filter (also inside the ``EXISTS`` a relationship lookup builds), the updated
row in an UPDATE. In a filter it may reach through to-one relationships
(``F("author__name")``), which becomes a correlated scalar subquery built from
the relationship itself, so any foreign key (composite, custom join condition,
single-table subclass) is followed the way the ORM follows it. An UPDATE sets
values from the row's own fields only, the same statement on every database
(MySQL refuses a subquery on the table it updates).

Before any SQL, an expression's *kind* (number, text, date, ...) is checked:
arithmetic works on numbers only, and a value is compared with or stored into a
field of the same kind, so that every database gives the same answer (SQLite
would compare text with a number, PostgreSQL refuses). Fields whose type is not
known (custom types, some hybrids) are given the benefit of the doubt.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, aliased, join
from sqlalchemy.sql import ClauseElement, ColumnElement

from ._column_types import accepted_types
from ._expressions import Aggregate, Coalesce, Combined, Expression, ExpressionCompiler, F
from ._expressions import compile_expression as _compile
from ._model_info import model_info, sql_attribute
from ._paths import FieldRef, resolve_field_ref
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = [
    "compile_for_filter",
    "compile_for_row",
    "computed_keys",
    "describe",
    "expression_kind",
    "field_kind",
    "holds_expression",
    "is_sql_expression",
    "kind_of_types",
    "read_computed",
    "refuse_mismatch",
    "row_value",
]

# The first matching Python type names the kind (bool before int, datetime before date).
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    ((int, float, decimal.Decimal), "number"),
    (uuid.UUID, "uuid"),
    (str, "text"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (dt.time, "time"),
    (dt.timedelta, "interval"),
    ((bytes, bytearray, memoryview), "bytes"),
)


def kind_of_types(python_types: tuple[type, ...] | None) -> str | None:
    """The kind of value a field taking ``python_types`` holds (``None``: unknown).

    Example:
        >>> kind_of_types((int, float)), kind_of_types((uuid.UUID, str)), kind_of_types(None)
        ('number', 'uuid', None)
    """
    if not python_types:
        return None
    first = python_types[0]
    for kinds, name in _KINDS:
        if isinstance(first, type) and issubclass(first, kinds):
            return name
    return None


def _value_kind(value: Any) -> str | None:
    return kind_of_types((type(value),))


def is_sql_expression(value: Any) -> bool:
    """Whether ``value`` is SQLAlchemy SQL (``Post.views + 1``, ``Post.views``, ``func.now()``).

    Example:
        >>> is_sql_expression(Post.title), is_sql_expression("Post.title")
        (True, False)
    """
    if type(value) in _PLAIN_TYPES:  # the usual case, answered without an attribute lookup
        return False
    return isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), decimal.Decimal, dt.datetime})


def holds_expression(value: Any) -> bool:
    """Whether ``value`` is an expression of sqlrecord's (``F(...)``) or SQLAlchemy's.

    Example:
        >>> holds_expression(F("views") + 1), holds_expression({"F": "views"})
        (True, False)
    """
    return isinstance(value, Expression) or is_sql_expression(value)


def describe(value: Any) -> str:
    """A short name of an expression for error messages.

    Example:
        >>> describe(F("views") * 2)
        "(F('views') * 2)"
    """
    return repr(value) if isinstance(value, Expression) else str(value)[:60]


def _sql_kind(value: Any) -> str | None:
    element = value.__clause_element__() if hasattr(value, "__clause_element__") else value
    sql_type = getattr(element, "type", None)
    return None if sql_type is None else kind_of_types(accepted_types(sql_type))


def field_kind(model: type[Any], name: str) -> str | None:
    """The kind of ``model``'s field ``name`` (a column or a hybrid), ``None`` if unknown.

    Example:
        >>> field_kind(User, "email"), field_kind(User, "created_at")
        ('text', 'datetime')
    """
    info = model_info(model)
    accepted = info.accepted_types.get(name)
    if accepted is not None:
        return kind_of_types(accepted)
    if name in info.column_set or name in info.hybrid_property_names:
        return _sql_kind(sql_attribute(model, name))  # a hybrid's SQL has a type too
    return None


def expression_kind(model: type[Any], value: Any, *, relations: bool) -> str | None:
    """The kind of value ``value`` gives for a row of ``model``; checks its names and
    arithmetic. ``relations``: whether an ``F`` may reach through to-one relationships.

    Raises :class:`InvalidFieldError` for a name ``model`` does not have and
    :class:`InvalidValueError` for arithmetic on anything but numbers or a
    ``Coalesce`` of values of different kinds.

    Example:
        >>> expression_kind(User, F("id") * 2 + 1, relations=False)
        'number'
        >>> expression_kind(User, F("email") + "!", relations=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: (F('email') + '!'): arithmetic works on numbers...
    """
    if isinstance(value, F):
        ref = _field_ref(model, value.name, relations=relations)
        return field_kind(ref.target, ref.field)
    if isinstance(value, Combined):
        for operand in (value.left, value.right):
            kind = expression_kind(model, operand, relations=relations)
            if kind not in (None, "number"):
                raise InvalidValueError(
                    f"{value!r}: arithmetic works on numbers only (the same on every "
                    f"database), and {describe(operand)} is {kind}."
                )
        return "number"
    if isinstance(value, Coalesce):
        kinds = [expression_kind(model, item, relations=relations) for item in value.values]
        known = {kind for kind in kinds if kind is not None}
        if len(known) > 1:
            raise InvalidValueError(
                f"{value!r} mixes values of different kinds ({', '.join(sorted(known))}); "
                "give it values of one kind."
            )
        return known.pop() if known else None
    if isinstance(value, Aggregate):
        return None  # compiling refuses it where aggregates do not belong
    if is_sql_expression(value):
        return _sql_kind(value)
    return _value_kind(value)


def refuse_mismatch(where: str, expected: str | None, value: Any, found: str | None) -> None:
    """Raise :class:`InvalidValueError` when a value of kind ``found`` cannot stand for a
    field of kind ``expected`` (either unknown: allowed).

    Example:
        >>> refuse_mismatch("User.email", "text", F("id"), "number")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.email is text; F('id') gives a number...
    """
    if expected is None or found is None or expected == found:
        return
    article = "an" if found[0] in "aeiou" else "a"
    raise InvalidValueError(
        f"{where} is {expected}; {describe(value)} gives {article} {found}. Compare and "
        f"store values of the same kind (databases disagree on mixed ones): convert one "
        f"side with a SQLAlchemy cast()."
    )


def _field_ref(model: type[Any], name: str, *, relations: bool) -> FieldRef:
    ref = resolve_field_ref(model, name, purpose="refer to a value")
    if ref.relations and not relations:
        raise InvalidFieldError(
            f"F({name!r}) reaches through a relationship; an UPDATE sets values from the "
            f"row's own fields only ({', '.join(model_info(model).column_names)}). Read the "
            "related value first, or write the statement with SQLAlchemy.",
            model=model.__name__,
            field=name,
            valid=list(model_info(model).column_names),
        )
    return ref


def _to_one_subquery(model: type[Any], ref: FieldRef) -> ColumnElement[Any]:
    """The field at the end of ``ref`` for the current row of ``model``: a scalar subquery
    over aliases of the related tables, joined as the relationships say, correlated to
    ``model`` (NULL when a relationship has no row)."""
    entity: Any = model
    joins: list[Any] = []
    for relation in ref.relations:
        if relation.secondary is not None:
            raise InvalidFieldError(
                f"F({ref.key!r}): {relation.parent.class_.__name__}.{relation.key} goes "
                "through an association table; F follows foreign keys of the row only.",
                model=relation.parent.class_.__name__,
                field=relation.key,
            )
        target = aliased(relation.mapper.class_)
        joins.append(join(entity, target, getattr(entity, relation.key).of_type(target)).onclause)
        entity = target
    column = sql_attribute(entity, ref.field)
    # Correlated by name, not left to auto-correlation, which looks one level up only:
    # inside a lookup's EXISTS the row is two levels up.
    outer = inspect(model).tables
    return select(column).where(*joins).correlate(*outer).scalar_subquery()


def _compiler(model: type[Any], *, relations: bool, context: str) -> ExpressionCompiler:
    def field(name: str) -> ColumnElement[Any]:
        ref = _field_ref(model, name, relations=relations)
        if not ref.relations:
            return sql_attribute(model, ref.field)  # type: ignore[no-any-return]
        return _to_one_subquery(model, ref)

    return ExpressionCompiler(field=field, context=context)


def compile_for_filter(model: type[Any], value: Any) -> Any:
    """SQL for ``value`` in a condition on ``model``'s rows (``F`` may reach to-one fields).

    Example:
        >>> condition = Post.title == compile_for_filter(Post, F("author__name"))
        >>> print(select(Post.id).where(condition))  # doctest: +NORMALIZE_WHITESPACE
        SELECT doc_posts.id FROM doc_posts WHERE doc_posts.title = (SELECT doc_users_1.name
        FROM doc_users AS doc_users_1 WHERE doc_users_1.id = doc_posts.author_id)
    """
    return _compile(value, _compiler(model, relations=True, context="a filter"))


def compile_for_row(model: type[Any], value: Any, *, context: str) -> Any:
    """SQL for ``value`` as a new value of a ``model`` row (``F`` names its own fields).

    Example:
        >>> print(compile_for_row(User, F("id") + 1, context="update()"))
        doc_users.id + :id_1
    """
    return _compile(value, _compiler(model, relations=False, context=context))


def row_value(model: type[Any], name: str, value: Any, *, context: str, new: bool = False) -> Any:
    """Check an expression given as the new value of column ``name`` and return its SQL.

    ``new``: the row does not exist yet, so an ``F`` has nothing to read (a SQLAlchemy
    expression goes into the INSERT as written, as the ORM does).

    Example:
        >>> print(row_value(User, "is_admin", F("is_admin"), context="update()"))
        doc_users.is_admin
        >>> row_value(User, "name", F("id") + 1, context="update()")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.name is text; (F('id') + 1) gives a number...
    """
    info = model_info(model)
    if name not in info.column_set:
        raise InvalidValueError(
            f"{model.__name__}.{name} is not a column: {describe(value)} can set columns only "
            f"({', '.join(info.settable_column_names)})."
        )
    if isinstance(value, Expression) and new:
        raise InvalidValueError(
            f"{model.__name__}.{name}: {describe(value)} reads the row's own values, and a "
            f"new {model.__name__} has no row yet. Give a plain value, or save it first."
        )
    found = expression_kind(model, value, relations=False)
    refuse_mismatch(f"{model.__name__}.{name}", field_kind(model, name), value, found)
    sql = compile_for_row(model, value, context=context) if isinstance(value, Expression) else value
    # The column itself, not its attribute (`Post.views`): what an object holds is SQL.
    return sql.__clause_element__() if hasattr(sql, "__clause_element__") else sql


def computed_keys(state: InstanceState[Any]) -> list[str]:
    """Columns of an object being set to SQL (``F("views") + 1``, ``Post.views + 1``):
    the database computes them, and the flush leaves them expired.

    Example:
        >>> computed_keys(inspect(User(name="Kim")))
        []
    """
    columns = model_info(state.class_).column_set
    return [
        key
        for key in state.committed_state
        if key in columns and is_sql_expression(state.dict.get(key))
    ]


async def read_computed(session: AsyncSession, obj: Any, keys: list[str]) -> None:
    """Read back what the database computed for ``keys`` (those still expired), in the
    same transaction, so that reading the attributes later needs no query (which async
    code could not make)."""
    expired = [key for key in keys if key in inspect(obj).unloaded]
    if expired:
        await session.refresh(obj, attribute_names=expired)
