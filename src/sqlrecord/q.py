"""``Q``: lookups combined with ``|``, ``&`` and ``~``, mixable with SQLAlchemy expressions."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Boolean, and_, false, func, not_, or_, true
from sqlalchemy.sql import ColumnElement, visitors

from .lookups import build_condition

__all__ = ["Q", "resolve_q"]


class Q(ColumnElement[bool]):
    """A condition tree: keyword lookups and raw SQLAlchemy expressions, combinable.

    ``Q(a=1, b=2)`` means both; ``Q(...) | Q(...)`` either; ``~Q(...)`` not.
    Positional arguments are SQLAlchemy expressions (``User.age > 30``) and
    are ANDed with the lookups. A ``Q`` also goes inside SQLAlchemy's own
    operators (``(User.age > 30) | Q(name="Kim")``): it is a placeholder that
    the query resolves against its model. Negation keeps rows where the
    condition is NULL (``~Q(name="Kim")`` keeps users without a name).

    Example:
        >>> condition = Q(name__startswith="K") | Q(email__endswith="@example.com")
        >>> [user.email for user in run(User.filter(condition).order_by("email"))]
        []
        >>> print((~Q(User.id > 3, name=None)).resolve(User))
        NOT coalesce(doc_users.id > :id_1 AND doc_users.name IS NULL, false)
    """

    __visit_name__ = "sqlrecord_q"
    inherit_cache = False
    type = Boolean()

    def __init__(self, /, *expressions: ColumnElement[bool] | Q, **lookups: Any) -> None:
        self.expressions = expressions
        self.lookups = lookups
        self.children: tuple[Q, ...] = ()
        self.connector = "AND"
        self.negated = False

    @classmethod
    def _combine(cls, connector: str, left: Q, right: Any) -> Q:
        combined = cls()
        combined.connector = connector
        combined.children = (left, right if isinstance(right, Q) else Q(right))
        return combined

    def __or__(self, other: Any) -> Q:  # type: ignore[override]
        return self._combine("OR", self, other)

    def __and__(self, other: Any) -> Q:  # type: ignore[override]
        return self._combine("AND", self, other)

    def __ror__(self, other: Any) -> Q:
        return self._combine("OR", Q(other), self)

    def __rand__(self, other: Any) -> Q:
        return self._combine("AND", Q(other), self)

    def __invert__(self) -> Q:
        inverted = Q()
        inverted.children = (self,)
        inverted.negated = True
        return inverted

    def resolve(self, model: builtins.type[Any]) -> ColumnElement[bool]:
        """Compile to one SQL condition for ``model`` (checks every lookup key).

        Example:
            >>> print(Q(name="Kim").resolve(User))
            doc_users.name = :name_1
        """
        parts = [resolve_q(expression, model) for expression in self.expressions]
        if self.lookups:
            parts.append(build_condition(model, self.lookups))
        if self.children:
            resolved = [child.resolve(model) for child in self.children]
            joined = or_(*resolved) if self.connector == "OR" else and_(*resolved)
            parts.append(joined)
        condition = true() if not parts else parts[0] if len(parts) == 1 else and_(*parts)
        if not self.negated:
            return condition
        # NOT of an unknown (NULL) comparison is still unknown, which would
        # drop rows with NULLs from `exclude(name="Kim")`. Negate "is true".
        return not_(func.coalesce(condition, false()))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        inner = [repr(expression) for expression in self.expressions]
        inner += [f"{key}={value!r}" for key, value in self.lookups.items()]
        if self.children:
            inner.append(f" {self.connector} ".join(repr(child) for child in self.children))
        text = f"Q({', '.join(inner)})"
        return f"~{text}" if self.negated else text


def resolve_q(condition: Any, model: type[Any]) -> ColumnElement[bool]:
    """Replace every ``Q`` in ``condition`` (a ``Q`` or a SQLAlchemy expression) with SQL.

    Example:
        >>> print(resolve_q((User.id > 3) | Q(name="Kim"), User))
        doc_users.id > :id_1 OR doc_users.name = :name_1
    """
    if isinstance(condition, Q):
        return condition.resolve(model)
    if not any(isinstance(element, Q) for element in visitors.iterate(condition)):
        return condition  # type: ignore[no-any-return]

    def replace(element: Any) -> Any:
        return element.resolve(model) if isinstance(element, Q) else None

    traverse: Any = visitors.replacement_traverse  # its overloads do not cover ColumnElement
    resolved: ColumnElement[bool] = traverse(condition, {}, replace)
    return resolved
