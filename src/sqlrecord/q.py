"""``Q``: lookups combined with ``|``, ``&`` and ``~``, mixable with SQLAlchemy expressions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, not_, or_, true
from sqlalchemy.sql import ColumnElement

from .lookups import build_condition

__all__ = ["Q"]


class Q:
    """A condition tree: keyword lookups and raw SQLAlchemy expressions, combinable.

    ``Q(a=1, b=2)`` means both; ``Q(...) | Q(...)`` either; ``~Q(...)`` not.
    Positional arguments are SQLAlchemy expressions (``User.age > 30``) and
    are ANDed with the lookups. Put a ``Q`` on the left of ``|``/``&``, or wrap
    a raw expression in ``Q(...)``, to combine it with one.

    Example:
        >>> condition = Q(name__startswith="K") | Q(email__endswith="@example.com")
        >>> [user.email for user in run(User.filter(condition).order_by("email"))]
        []
        >>> print(~Q(User.id > 3, name=None).resolve(User))
        NOT (doc_users.id > :id_1 AND doc_users.name IS NULL)
    """

    __slots__ = ("children", "connector", "expressions", "lookups", "negated")

    def __init__(self, *expressions: ColumnElement[bool] | Q, **lookups: Any) -> None:
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

    def __or__(self, other: Q | ColumnElement[bool]) -> Q:
        return self._combine("OR", self, other)

    def __and__(self, other: Q | ColumnElement[bool]) -> Q:
        return self._combine("AND", self, other)

    def __ror__(self, other: ColumnElement[bool]) -> Q:
        return self._combine("OR", Q(other), self)

    def __rand__(self, other: ColumnElement[bool]) -> Q:
        return self._combine("AND", Q(other), self)

    def __invert__(self) -> Q:
        inverted = Q()
        inverted.children = (self,)
        inverted.negated = True
        return inverted

    def resolve(self, model: type[Any]) -> ColumnElement[bool]:
        """Compile to one SQL condition for ``model`` (checks every lookup key).

        Example:
            >>> print(Q(name="Kim").resolve(User))
            doc_users.name = :name_1
        """
        parts: list[ColumnElement[bool]] = []
        for expression in self.expressions:
            parts.append(expression.resolve(model) if isinstance(expression, Q) else expression)
        if self.lookups:
            parts.append(build_condition(model, self.lookups))
        if self.children:
            resolved = [child.resolve(model) for child in self.children]
            joined = or_(*resolved) if self.connector == "OR" else and_(*resolved)
            parts.append(joined)
        condition = true() if not parts else parts[0] if len(parts) == 1 else and_(*parts)
        return not_(condition) if self.negated else condition

    def __repr__(self) -> str:
        inner = [repr(expression) for expression in self.expressions]
        inner += [f"{key}={value!r}" for key, value in self.lookups.items()]
        if self.children:
            inner.append(f" {self.connector} ".join(repr(child) for child in self.children))
        text = f"Q({', '.join(inner)})"
        return f"~{text}" if self.negated else text
