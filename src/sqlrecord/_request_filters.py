"""``RequestFilters``: filters and ordering from a query string, through an allow-list.

``User.filter_by(**request.query_params)`` lets a client filter on any column
(a password hash by ``pw__startswith``, one character at a time), with any
operator, and breaks on every value that is not text. A ``RequestFilters``
names what a client may ask for, converts each text value to its column's
type, and refuses anything else with a typed error that maps to 422:

* a key that is not an allowed ``field`` or ``field__operator``:
  :class:`~sqlrecord.exceptions.InvalidFieldError`, listing what is allowed;
* a value that does not convert, a key given twice, an ordering key not in
  the list: :class:`~sqlrecord.exceptions.InvalidValueError` (or
  ``InvalidFieldError`` for the key).

A key inside a JSON field (``"payload__theme"``) is allowed only when named
itself: allowing ``payload`` allows no key inside it. Its value stays the
query string's text, so it matches string values; ``has_key`` is allowed,
``contains`` (a sub-document) is not.

The allow-list itself is checked when it is built, so a typo in code fails at
import time, not on the first request.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._lookup_keys import OPERATORS, resolve_field
from ._model_info import model_info
from ._paths import LOOKUP_SEPARATOR, resolve_field_ref
from ._query import Query
from ._query_string import parse_boolean, parse_values
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["RequestFilters"]

M = TypeVar("M")


@dataclass(frozen=True)
class RequestFilters(Generic[M]):
    """An allow-list of filters and sort keys a request may use on ``model``.

    ``fields`` maps each filterable field (``"status"``, ``"author__email"``) to
    the operators allowed on it (``"exact"`` for ``field=value``, then any
    lookup operator: ``"in"``, ``"gte"``, ``"icontains"`` ...). ``order_by``
    lists the fields a client may sort by (``?order_by=-created_at,id``);
    ``default_order`` applies when it gives none. Keys in ``ignore`` (say
    ``page`` and ``per_page``, which the route reads itself) are skipped;
    every other key is refused.

    Example:
        >>> filters = RequestFilters(
        ...     User,
        ...     fields={"name": {"exact", "icontains"}, "id": {"gte", "lte", "in"}},
        ...     order_by={"id", "name"},
        ...     ignore={"page"},
        ... )
        >>> query = filters.apply({"id__gte": "30", "order_by": "-name", "page": "2"})
        >>> print(query.statement())  # doctest: +ELLIPSIS
        SELECT ... WHERE doc_users.id >= :id_1 ORDER BY ... doc_users.name DESC
        >>> filters.apply({"is_admin": "true"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: Cannot filter User by 'is_admin': ...
    """

    model: type[M]
    fields: Mapping[str, Collection[str]]
    order_by: Collection[str] = ()
    default_order: tuple[str, ...] = ()
    ignore: Collection[str] = ()
    order_parameter: str = "order_by"
    _allowed: dict[str, tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allowed: dict[str, tuple[str, str]] = {}
        for name, operators in self.fields.items():
            resolve_field_ref(self.model, name, purpose="filter")
            for operator in operators:
                if operator != "exact" and operator not in (*OPERATORS, "has_key"):
                    raise InvalidValueError(
                        f"RequestFilters: {operator!r} is not a lookup operator "
                        f"(use 'exact' or one of {', '.join(sorted(OPERATORS))}, has_key)."
                    )
                key = name if operator == "exact" else f"{name}{LOOKUP_SEPARATOR}{operator}"
                lookup = resolve_field(
                    self.model, f"{name}{LOOKUP_SEPARATOR}{_lookup_operator(operator)}"
                )
                if lookup.json_lookup and operator == "contains":
                    raise InvalidValueError(
                        f"RequestFilters: {key!r} would take a sub-document, which a query "
                        "string cannot give; filter on a key inside the field instead."
                    )
                allowed[key] = (name, operator)
        for name in (*self.order_by, *(key.lstrip("-") for key in self.default_order)):
            resolve_field_ref(self.model, name, purpose="sort")
        object.__setattr__(self, "_allowed", allowed)

    @property
    def allowed_keys(self) -> list[str]:
        """Every query-string key this allow-list accepts, sorted.

        Example:
            >>> RequestFilters(User, fields={"id": {"exact", "gte"}}).allowed_keys
            ['id', 'id__gte']
        """
        return sorted(self._allowed)

    def apply(
        self,
        params: Mapping[str, str] | Iterable[tuple[str, str]],
        query: Query[M] | None = None,
    ) -> Query[M]:
        """``query`` (default: every row of ``model``) filtered and sorted as ``params`` ask.

        ``params`` is a mapping or, to see repeated keys, pairs: Starlette's
        ``request.query_params.multi_items()``. A repeated key is refused.

        Example:
            >>> filters = RequestFilters(User, fields={"id": {"in"}})
            >>> print(filters.apply([("id__in", "20,30")]).statement())  # doctest: +ELLIPSIS
            SELECT ... WHERE doc_users.id IN (__[POSTCOMPILE_id_1])
        """
        pairs = list(params.items() if isinstance(params, Mapping) else params)
        query = query if query is not None else Query(self.model)
        lookups: dict[str, Any] = {}
        order: list[str] = []
        seen: set[str] = set()
        for key, text in pairs:
            if key in self.ignore:
                continue
            if key in seen:
                raise InvalidValueError(f"Give {key!r} once; it was given more than once.")
            seen.add(key)
            if key == self.order_parameter:
                order = self._order(text)
            else:
                value = self._value(key, text)
                name, operator = self._allowed[key]
                # `name__eq`, not the key as sent: a JSON key named like an operator
                # (`payload__in`) stays a key.
                lookups[f"{name}{LOOKUP_SEPARATOR}{_lookup_operator(operator)}"] = value
        if lookups:
            query = query.filter_by(**lookups)
        order = order or list(self.default_order)
        return query.order_by(*order) if order else query

    def _order(self, text: str) -> list[str]:
        keys = [key.strip() for key in text.split(",") if key.strip()]
        for key in keys:
            if key.lstrip("-") not in self.order_by:
                raise InvalidFieldError(
                    f"Cannot sort {self.model.__name__} by {key.lstrip('-')!r}: sort by one "
                    f"of {', '.join(sorted(self.order_by)) or 'nothing'} (prefix '-' for "
                    "descending).",
                    model=self.model.__name__,
                    field=key.lstrip("-"),
                    valid=sorted(self.order_by),
                )
        return keys

    def _value(self, key: str, text: str) -> Any:
        allowed = self._allowed.get(key)
        if allowed is None:
            raise InvalidFieldError(
                f"Cannot filter {self.model.__name__} by {key!r}: the filters allowed here "
                f"are {', '.join(self.allowed_keys) or 'none'}.",
                model=self.model.__name__,
                field=key,
                valid=self.allowed_keys,
            )
        name, operator = allowed
        if operator == "isnull":
            return parse_boolean(key, text)
        ref = resolve_field_ref(self.model, name, purpose="filter")
        types = model_info(ref.target).accepted_types.get(ref.field) or (str,)
        return parse_values(key, text, operator, types)


def _lookup_operator(operator: str) -> str:
    return "eq" if operator == "exact" else operator
