"""``class_property``: a read-only property evaluated on the class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["class_property"]

_T = TypeVar("_T")


class class_property(Generic[_T]):
    """``@property`` for ``@classmethod``: computed from the class, readable on both.

    The getter receives the class, whether the attribute is read on the class or
    on an instance, so ``User.column_names`` and ``user.column_names`` agree.

    Example:
        >>> class Greeting:
        ...     word = "hello"
        ...     @class_property
        ...     def shout(cls) -> str:
        ...         return cls.word.upper()
        >>> Greeting.shout, Greeting().shout
        ('HELLO', 'HELLO')
    """

    def __init__(self, getter: Callable[[Any], _T]) -> None:
        self.getter = getter
        self.__doc__ = getter.__doc__
        self.__name__ = getattr(getter, "__name__", "class_property")

    def __get__(self, instance: object, owner: type[Any] | None = None) -> _T:
        return self.getter(owner if owner is not None else type(instance))
