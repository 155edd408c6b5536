"""``model_info``: what a mapped class has (columns, relationships, hybrids, keys)
and which of it may be set, introspected once per class and cached.

``fill`` and every lookup consult it on each call, so it is computed once,
after the mappers are configured. It knows nothing of sessions or databases,
so every layer above may ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, inspect, types
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapper, RelationshipDirection

from ._column_types import accepted_types, integer_range
from .exceptions import InvalidFieldError

__all__ = ["ModelInfo", "model_info", "sql_attribute"]


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
        bounds = integer_range(column.type)
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
