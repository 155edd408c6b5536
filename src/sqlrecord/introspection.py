"""``BaseMixin``: what a mapped model has, and which of it may be set.

The answers are computed once per class (after the mappers are configured)
and cached, because ``fill`` consults them on every call.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Column, inspect, types
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapper, RelationshipDirection

from . import _lazy_guard
from ._class_property import class_property
from ._registry import register_model
from .exceptions import InvalidFieldError

__all__ = [
    "BaseMixin",
    "accepted_types",
    "fits",
    "model_info",
    "sql_attribute",
    "storable_text",
]

_lazy_guard.install()


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """Everything sqlrecord needs to know about one mapped class."""

    column_names: tuple[str, ...]
    relation_names: tuple[str, ...]
    hybrid_property_names: tuple[str, ...]
    hybrid_method_names: tuple[str, ...]
    settable_column_names: tuple[str, ...]
    settable_relation_names: tuple[str, ...]
    settable_hybrid_names: tuple[str, ...]
    primary_key_names: tuple[str, ...]
    # Primary-key columns the database does not generate: settable on new objects only.
    natural_key_names: frozenset[str]
    unique_names: tuple[str, ...]
    protected_names: frozenset[str]
    list_relation_names: frozenset[str]
    # Relationships whose old value must be loaded before a new one is set
    # (collections and one-to-one); many-to-one assignments need no read.
    needs_loaded_names: frozenset[str]
    relation_targets: dict[str, type[Any]] = field(default_factory=dict)
    # Python types a column accepts, for the columns whose type is unambiguous.
    accepted_types: dict[str, tuple[type, ...]] = field(default_factory=dict)
    max_lengths: dict[str, int] = field(default_factory=dict)
    integer_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    settable_attribute_set: frozenset[str] = field(init=False)
    column_set: frozenset[str] = field(init=False)

    @property
    def settable_attributes(self) -> tuple[str, ...]:
        return (
            self.settable_column_names + self.settable_relation_names + self.settable_hybrid_names
        )

    @property
    def fillable_names(self) -> tuple[str, ...]:
        """What ``fill`` takes without ``allow_protected``: the names an error may list."""
        return tuple(name for name in self.settable_attributes if name not in self.protected_names)

    def __post_init__(self) -> None:
        # Sets for the membership tests `fill` makes per key.
        object.__setattr__(self, "settable_attribute_set", frozenset(self.settable_attributes))
        object.__setattr__(self, "column_set", frozenset(self.column_names))


# Order matters: the first matching SQLAlchemy type wins (Boolean before Integer
# is irrelevant as they are unrelated classes, but DateTime must precede Date).
_TYPE_RULES: tuple[tuple[type[types.TypeEngine[Any]], tuple[type, ...]], ...] = (
    (types.Boolean, (bool,)),
    (types.Integer, (int,)),
    (types.Numeric, (int, float, decimal.Decimal)),
    (types.String, (str,)),
    (types.DateTime, (dt.datetime,)),
    (types.Date, (dt.date,)),
    (types.Time, (dt.time,)),
    (types.Interval, (dt.timedelta,)),
    (types.LargeBinary, (bytes, bytearray, memoryview)),
    (types.Uuid, (uuid.UUID, str)),
)


def fits(value: Any, accepted: tuple[type, ...]) -> bool:
    """``isinstance``, except that ``True``/``False`` are not numbers here.

    Example:
        >>> fits(3, (int,)), fits(True, (int,)), fits(True, (bool,)), fits("a" + chr(0), (str,))
        (True, False, True, False)
    """
    if isinstance(value, bool) and bool not in accepted:
        return False
    if isinstance(value, str) and not storable_text(value):
        return False
    if isinstance(value, float | decimal.Decimal) and not _finite(value):
        return False  # MySQL refuses NaN/Infinity and SQLite turns NaN into NULL
    return isinstance(value, accepted)


def _finite(value: float | decimal.Decimal) -> bool:
    return value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)


def storable_text(value: str) -> bool:
    """Whether every database can store ``value``: no NUL (PostgreSQL refuses it) and
    valid Unicode (a lone surrogate cannot be encoded as UTF-8).

    Example:
        >>> storable_text("Kim"), storable_text("a" + chr(0)), storable_text(chr(0xD800))
        (True, False, False)
    """
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sql_attribute(model: Any, name: str) -> Any:
    """``getattr(model, name)`` for use in SQL; a hybrid whose getter is not SQL raises
    :class:`InvalidFieldError` instead of whatever its Python code raised.

    Example:
        >>> sql_attribute(User, "email") is User.email
        True
    """
    try:
        return getattr(model, name)
    except Exception as error:  # the hybrid's own code failed on SQL columns
        owner = getattr(model, "__name__", None) or type(model).__name__
        raise InvalidFieldError(
            f"{owner}.{name} cannot be used in a query: its Python getter does not work on "
            f"SQL columns ({type(error).__name__}: {error}). Give the hybrid an "
            "`@<name>.inplace.expression`, or filter on the columns it reads.",
            model=owner,
            field=name,
        ) from error


def accepted_types(column_type: types.TypeEngine[Any]) -> tuple[type, ...] | None:
    """The Python types a column (or SQL expression) type takes, when unambiguous.

    Example:
        >>> from sqlalchemy import Integer, JSON
        >>> accepted_types(Integer()), accepted_types(JSON())
        ((<class 'int'>,), None)
    """
    if isinstance(column_type, types.TypeDecorator):
        # A decorator may accept anything its bind processor converts; only
        # trust sqlrecord's own, which declares what it takes.
        return getattr(column_type, "accepted_types", None)
    if isinstance(column_type, types.Enum):
        enum_class = column_type.enum_class
        return (str, enum_class) if enum_class is not None else (str,)
    for sql_type, python_types in _TYPE_RULES:
        if isinstance(column_type, sql_type):
            return python_types
    return None


def _unique_column_keys(mapper: Mapper[Any]) -> list[str]:
    """Attribute keys of columns that are unique on their own."""
    keys: list[str] = []
    table = mapper.local_table
    single_unique: set[str] = set()
    for constraint in getattr(table, "constraints", ()):
        columns = list(getattr(constraint, "columns", ()))
        if type(constraint).__name__ == "UniqueConstraint" and len(columns) == 1:
            single_unique.add(columns[0].name)
    for index in getattr(table, "indexes", ()):
        if index.unique and len(index.columns) == 1:
            single_unique.update(column.name for column in index.columns)
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column, Column) and (column.unique or column.name in single_unique):
            keys.append(prop.key)
    return keys


_infos: dict[type[Any], ModelInfo] = {}


def model_info(model: type[Any]) -> ModelInfo:
    """What sqlrecord knows of ``model``, introspected once (mappers configured first).

    Example:
        >>> model_info(User).primary_key_names, model_info(User).unique_names
        (('id',), ('id', 'email'))
    """
    info = _infos.get(model)
    if info is None:
        info = _infos[model] = _introspect(model)
    return info


def _introspect(model: type[Any]) -> ModelInfo:
    mapper: Mapper[Any] = inspect(model)
    readonly = _declared_along_mro(model, "__readonly_attributes__")
    columns: list[str] = []
    settable_columns: list[str] = []
    accepted: dict[str, tuple[type, ...]] = {}
    lengths: dict[str, int] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for prop in mapper.column_attrs:
        columns.append(prop.key)
        column = prop.columns[0]
        if not isinstance(column, Column):  # a column_property over a SQL expression
            continue
        python_types = accepted_types(column.type)
        if python_types is not None:
            accepted[prop.key] = python_types
        length = getattr(column.type, "length", None)
        if isinstance(column.type, types.String) and isinstance(length, int):
            lengths[prop.key] = length
        bounds = _integer_range(column.type)
        if bounds is not None:
            ranges[prop.key] = bounds
        if not (column.primary_key or prop.key in readonly or column.name in readonly):
            settable_columns.append(prop.key)
    relations = list(mapper.relationships)
    # `@x.inplace.setter def _x_setter` leaves a second name for the same
    # hybrid; keep the one it was declared as.
    hybrids = {
        key: descriptor
        for key, descriptor in mapper.all_orm_descriptors.items()
        if isinstance(descriptor, hybrid_property) and descriptor.__name__ == key
    }
    hybrid_methods = [
        key
        for key, descriptor in mapper.all_orm_descriptors.items()
        if isinstance(descriptor, hybrid_method)
    ]
    primary_keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    generated = getattr(mapper.local_table, "autoincrement_column", None)
    natural_keys = frozenset(
        mapper.get_property_by_column(column).key
        for column in mapper.primary_key
        if column is not generated and column.server_default is None
    )
    return ModelInfo(
        column_names=tuple(columns),
        relation_names=tuple(prop.key for prop in relations),
        hybrid_property_names=tuple(hybrids),
        hybrid_method_names=tuple(hybrid_methods),
        settable_column_names=tuple(settable_columns),
        settable_relation_names=tuple(
            prop.key for prop in relations if not prop.viewonly and prop.key not in readonly
        ),
        settable_hybrid_names=tuple(
            key for key, descriptor in hybrids.items() if descriptor.fset is not None
        ),
        primary_key_names=tuple(primary_keys),
        natural_key_names=natural_keys,
        unique_names=tuple(dict.fromkeys(primary_keys + _unique_column_keys(mapper))),
        protected_names=_declared_along_mro(model, "__protected_attributes__"),
        list_relation_names=frozenset(prop.key for prop in relations if prop.uselist),
        needs_loaded_names=frozenset(
            prop.key for prop in relations if prop.direction is not RelationshipDirection.MANYTOONE
        ),
        relation_targets={prop.key: prop.mapper.class_ for prop in relations},
        accepted_types=accepted,
        max_lengths=lengths,
        integer_ranges=ranges,
    )


def _declared_along_mro(model: type[Any], name: str) -> frozenset[str]:
    """The union of a set-valued class attribute over the class and its bases:
    a model's own ``__protected_attributes__`` adds to its mixins', never drops them."""
    found: set[str] = set()
    for klass in model.__mro__:
        found.update(vars(klass).get(name, ()))
    return frozenset(found)


# The portable range of each integer type: what PostgreSQL and MySQL store in it
# (SQLite would take 64 bits anywhere), so a value is judged the same everywhere.
_INTEGER_BITS = ((types.SmallInteger, 16), (types.BigInteger, 64), (types.Integer, 32))


def _integer_range(column_type: types.TypeEngine[Any]) -> tuple[int, int] | None:
    for sql_type, bits in _INTEGER_BITS:
        if isinstance(column_type, sql_type):
            return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return None


class BaseMixin:
    """Introspection of a mapped model, as class properties (the design notes' names).

    Mix it (or :class:`~sqlrecord.CRUDMixin`, which includes it) into any
    SQLAlchemy 2 declarative model. Two class attributes tune it:

    * ``__readonly_attributes__``: names never settable through ``fill``
      (default: ``{"created_at"}``; primary keys are never settable).
    * ``__protected_attributes__``: names ``fill`` refuses unless the caller
      passes ``allow_protected`` (mass-assignment protection).

    Example:
        >>> User.column_names
        ['id', 'email', 'name', 'is_admin', 'created_at', 'updated_at']
        >>> User.settable_attributes, User.unique_names
        (['email', 'name', 'is_admin', 'updated_at', 'posts'], ['id', 'email'])
    """

    __readonly_attributes__: ClassVar[frozenset[str]] = frozenset({"created_at"})
    __protected_attributes__: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_model(cls)

    @class_property
    def column_names(cls: type[Any]) -> list[str]:
        """Attribute names of the mapped columns, primary key included.

        Example:
            >>> User.column_names
            ['id', 'email', 'name', 'is_admin', 'created_at', 'updated_at']
        """
        return list(model_info(cls).column_names)

    @class_property
    def relation_names(cls: type[Any]) -> list[str]:
        """Names of the relationships.

        Example:
            >>> User.relation_names, Post.relation_names
            (['posts'], ['author'])
        """
        return list(model_info(cls).relation_names)

    @class_property
    def hybrid_property_names(cls: type[Any]) -> list[str]:
        """Names of the hybrid properties (settable or not).

        Example:
            >>> User.hybrid_property_names
            []
        """
        return list(model_info(cls).hybrid_property_names)

    @class_property
    def settable_column_names(cls: type[Any]) -> list[str]:
        """Columns ``fill`` may set: not primary key, not read-only (``created_at``).

        Example:
            >>> User.settable_column_names
            ['email', 'name', 'is_admin', 'updated_at']
        """
        return list(model_info(cls).settable_column_names)

    @class_property
    def settable_relation_names(cls: type[Any]) -> list[str]:
        """Relationships ``fill`` may set: not ``viewonly``.

        Example:
            >>> User.settable_relation_names
            ['posts']
        """
        return list(model_info(cls).settable_relation_names)

    @class_property
    def settable_attributes(cls: type[Any]) -> list[str]:
        """Settable columns, settable relationships and hybrid properties with a setter.

        Example:
            >>> User.settable_attributes
            ['email', 'name', 'is_admin', 'updated_at', 'posts']
        """
        return list(model_info(cls).settable_attributes)

    @class_property
    def primary_key_names(cls: type[Any]) -> list[str]:
        """Attribute names of the primary key columns.

        Example:
            >>> User.primary_key_names
            ['id']
        """
        return list(model_info(cls).primary_key_names)

    @class_property
    def unique_names(cls: type[Any]) -> list[str]:
        """Attributes that identify one row on their own: primary key and unique columns.

        Example:
            >>> User.unique_names
            ['id', 'email']
        """
        return list(model_info(cls).unique_names)

    @class_property
    def protected_attribute_names(cls: type[Any]) -> list[str]:
        """Attributes protected from mass assignment (``__protected_attributes__``).

        Example:
            >>> User.protected_attribute_names
            ['is_admin']
        """
        return sorted(model_info(cls).protected_names)

    @classmethod
    def is_setter_or_expression(cls, name: str) -> bool:
        """Whether ``name`` is a Python-level property that can be set or queried.

        True for a hybrid property or hybrid method (each has a SQL expression:
        its own or its getter) and for a plain ``property`` with a setter. False for mapped
        columns and relationships: the design notes' version also said True
        for those (every instrumented attribute has ``.expression``), which
        let ``fill`` set the primary key.

        Example:
            >>> BaseMixin.is_setter_or_expression("no_such_name")
            False
        """
        descriptor = _class_descriptor(cls, name)
        if isinstance(descriptor, hybrid_property | hybrid_method):
            return True
        return isinstance(descriptor, property) and descriptor.fset is not None


def _class_descriptor(model: type[Any], name: str) -> Any:
    """The raw class attribute (not its ``__get__`` result) found along the MRO."""
    for klass in model.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None
