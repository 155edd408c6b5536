"""``BaseMixin``: what a mapped model has, and which of it may be set, as class properties.

The answers come from ``_model_info.model_info`` (computed once per class, after
the mappers are configured).
Defining ``BaseMixin`` also guards its models' relationships against async
lazy loads (``_lazy_guard``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property

from . import _lazy_guard
from ._class_property import class_property
from ._model_info import model_info
from ._registry import register_model

__all__ = ["BaseMixin"]


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


# Before any model exists: the guard wraps each BaseMixin model's loaders as it is configured.
_lazy_guard.install(BaseMixin)
