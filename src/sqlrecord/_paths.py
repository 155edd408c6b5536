"""Relationship paths (``author__email``, ``posts.comments``) walked and checked against a model.

Lookups, sort keys, value fields, request filters and ``load()`` all name
relationships from a model: ``__`` separates the parts of the first four, ``.``
those of a loader path. The walk along the relationships happens here only,
and so do the rules of the two kinds of path that end elsewhere than a lookup
(a to-one *field reference*, a *loader path*) and their errors. ``lookups``
walks its keys with :func:`walk_relations` and reads operators after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import RelationshipProperty

from ._json_keys import check_json_keys, is_json_field
from ._model_info import model_info
from .exceptions import InvalidFieldError

__all__ = [
    "LOAD_SEPARATOR",
    "LOOKUP_SEPARATOR",
    "FieldRef",
    "RelationWalk",
    "field_names",
    "is_field",
    "resolve_field_ref",
    "resolve_load_path",
    "walk_relations",
]

#: Separates the parts of a lookup key or a sort key.
LOOKUP_SEPARATOR = "__"
#: Separates the relationships of a ``load()`` path.
LOAD_SEPARATOR = "."


@dataclass(frozen=True)
class RelationWalk:
    """The relationships the leading parts of a path name, and the parts after them.

    ``owners[i]`` is the class ``relations[i]`` was reached from (a subclass's
    own attribute, where the relationship is declared on its base).

    Example:
        >>> walk = walk_relations(Post, ["author", "email"])
        >>> walk.keys, walk.target.__name__, walk.rest
        (('author',), 'User', ('email',))
    """

    owners: tuple[type[Any], ...]
    relations: tuple[RelationshipProperty[Any], ...]
    target: type[Any]  # where the walk stopped: the last relationship's class, or the model
    rest: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(relation.key for relation in self.relations)


def walk_relations(model: type[Any], parts: Sequence[str]) -> RelationWalk:
    """Follow the leading ``parts`` that name relationships; stop at the first that does not.

    Example:
        >>> walk_relations(User, ["posts", "author", "name", "icontains"]).rest
        ('name', 'icontains')
    """
    current = model
    owners: list[type[Any]] = []
    relations: list[RelationshipProperty[Any]] = []
    for position, part in enumerate(parts):
        if part not in model_info(current).relation_names:
            return RelationWalk(tuple(owners), tuple(relations), current, tuple(parts[position:]))
        relation = inspect(current).relationships[part]
        owners.append(current)
        relations.append(relation)
        current = relation.mapper.class_
    return RelationWalk(tuple(owners), tuple(relations), current, ())


def field_names(model: type[Any]) -> list[str]:
    """The names a path may end on: columns, then hybrid properties.

    Example:
        >>> "title" in field_names(Post), "author" in field_names(Post)
        (True, False)
    """
    info = model_info(model)
    return [*info.column_names, *info.hybrid_property_names]


def is_field(model: type[Any], name: str) -> bool:
    """Whether ``name`` is a column or hybrid property of ``model``.

    Example:
        >>> is_field(Post, "title"), is_field(Post, "author")
        (True, False)
    """
    info = model_info(model)
    return name in info.column_names or name in info.hybrid_property_names


# -- field references: sort keys, value fields, aggregates, request filters --


@dataclass(frozen=True)
class FieldRef:
    """A field reached through zero or more many-to-one relationships."""

    key: str
    relations: tuple[RelationshipProperty[Any], ...]
    target: type[Any]
    field: str
    nullable: bool
    json_keys: tuple[str, ...] = ()  # object keys inside a JSON field (``data__ui__theme``)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(relation.key for relation in self.relations)


def resolve_field_ref(model: type[Any], key: str, *, purpose: str) -> FieldRef:
    """Check ``key`` (``name``, ``author__name``) for sorting or selecting values (cached).

    Only to-one relationships may lead to the field: a to-many one gives
    several values per row. After a JSON field the parts are object keys
    (``data__ui__theme``), except for aggregates.

    Example:
        >>> resolve_field_ref(Post, "author__email", purpose="sort").path
        ('author',)
    """
    cache_key = (model, key, purpose)
    found = _resolved.get(cache_key)
    if found is None:  # only valid keys get here (a bad one raises)
        found = _resolved[cache_key] = _resolve_field_ref(model, key, purpose)
    return found


_resolved: dict[tuple[type[Any], str, str], FieldRef] = {}


def _resolve_field_ref(model: type[Any], key: str, purpose: str) -> FieldRef:
    parts = key.split(LOOKUP_SEPARATOR)
    walk = walk_relations(model, parts[:-1])
    # The first to-many relationship is the error, even if a later part is unknown.
    for owner, relation in zip(walk.owners, walk.relations, strict=True):
        if relation.uselist:
            raise _to_many(owner, key, relation.key, purpose)
    if (
        walk.rest
        and is_field(walk.target, walk.rest[0])
        and is_json_field(walk.target, walk.rest[0])
    ):
        return _json_ref(walk, key, (*walk.rest[1:], parts[-1]), purpose)
    if walk.rest:
        raise _unknown(walk.target, key, walk.rest[0], purpose, relations=True)
    name = parts[-1]
    if not is_field(walk.target, name):
        raise _unknown(walk.target, key, name, purpose, relations=False)
    nullable = bool(walk.relations) or _is_nullable(walk.target, name)
    return FieldRef(key, walk.relations, walk.target, name, nullable)


def _json_ref(walk: RelationWalk, key: str, keys: tuple[str, ...], purpose: str) -> FieldRef:
    if purpose == "aggregate":
        raise InvalidFieldError(
            f"Cannot aggregate by {key!r}: aggregates over keys inside a JSON field are not "
            f"supported. Aggregate a column, or {walk.rest[0]!r} itself.",
            model=walk.target.__name__,
            field=key,
            valid=field_names(walk.target),
        )
    check_json_keys(walk.target, key, keys)
    return FieldRef(key, walk.relations, walk.target, walk.rest[0], True, keys)


def _is_nullable(model: type[Any], name: str) -> bool:
    column = inspect(model).columns.get(name)
    return True if column is None else bool(column.nullable)


def _to_many(owner: type[Any], key: str, part: str, purpose: str) -> InvalidFieldError:
    to_one = [prop.key for prop in inspect(owner).relationships if not prop.uselist]
    return InvalidFieldError(
        f"Cannot {purpose} by {key!r}: {owner.__name__}.{part} is a to-many "
        "relationship, which gives several values per row. Use a field or a to-one "
        "path, or filter through it instead.",
        model=owner.__name__,
        field=part,
        valid=[*model_info(owner).column_names, *to_one],
    )


def _unknown(
    model: type[Any], key: str, part: str, purpose: str, *, relations: bool
) -> InvalidFieldError:
    valid = field_names(model)
    if relations:
        valid += list(model_info(model).relation_names)
    return InvalidFieldError(
        f"Cannot {purpose} by {key!r}: {model.__name__} has no field {part!r}. "
        f"Valid: {', '.join(valid)}.",
        model=model.__name__,
        field=part,
        valid=valid,
    )


# -- loader paths -------------------------------------------------------------


def resolve_load_path(model: type[Any], path: str) -> RelationWalk:
    """Check a ``load()`` path: every dotted part names a relationship (cached).

    Example:
        >>> resolve_load_path(User, "posts.author").keys
        ('posts', 'author')
        >>> resolve_load_path(User, "posts.title")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: Cannot load 'posts.title': ...
    """
    found = _loads.get((model, path))
    if found is None:  # only valid paths get here (a bad one raises)
        found = _loads[model, path] = _resolve_load_path(model, path)
    return found


_loads: dict[tuple[type[Any], str], RelationWalk] = {}


def _resolve_load_path(model: type[Any], path: str) -> RelationWalk:
    walk = walk_relations(model, path.split(LOAD_SEPARATOR))
    if walk.rest:
        raise InvalidFieldError.no_relationship(
            walk.target.__name__,
            walk.rest[0],
            model_info(walk.target).relation_names,
            context=f"Cannot load {path!r}: ",
        )
    return walk
