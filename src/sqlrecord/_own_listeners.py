"""sqlrecord's own engine listeners: bookkeeping of its own, not a user's watch.

A statement the driver sends alone (``_internals.direct``) skips the ``Connection`` and so
every listener of one; it may skip these, each of which has nothing to do for such a
statement: MySQL's bookkeeping of which connections may be in a transaction (no
transaction begins there), and SQLite's ``begin`` listener, which sends no BEGIN on the
autocommit engine (the option it is silent under).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

__all__ = ["begin_options", "is_own_listener", "mark_begin_option", "mark_own", "silencing_options"]

# Each listener registered here, with the execution option it is silent under (None:
# always silent for a statement alone).
_OWN: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def mark_own(listener: Any, *, silent_under: str | None = None) -> None:
    """Note ``listener`` as sqlrecord's own, with nothing to do for a statement sent
    alone (``silent_under``: only on an engine with that execution option set).

    Example:
        >>> def begun(connection): pass
        >>> mark_own(begun, silent_under="sqlrecord_autocommit")
        >>> is_own_listener(begun, {"sqlrecord_autocommit": True}), is_own_listener(begun, {})
        (True, False)
    """
    _OWN[listener] = silent_under


def is_own_listener(listener: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``listener`` is sqlrecord's own, silent for a statement sent alone on an
    engine with execution ``options``.

    Example:
        >>> is_own_listener(print, {})
        False
    """
    try:
        if listener not in _OWN:
            return False
    except TypeError:  # not weakly referable: not one of these functions
        return False
    option = _OWN[listener]
    return option is None or bool(options.get(option))


# Execution options sqlrecord's own listeners read when a transaction begins, and nothing
# reads after that.
_BEGIN_OPTIONS: set[str] = set()


def mark_begin_option(name: str) -> None:
    """Note the execution option ``name`` as read only by sqlrecord's own listeners when a
    transaction begins (SQLite's BEGIN IMMEDIATE): a statement sent later in it is the
    same with or without it.

    Example:
        >>> mark_begin_option("sqlrecord_example_option")
        >>> "sqlrecord_example_option" in begin_options()
        True
    """
    _BEGIN_OPTIONS.add(name)


def begin_options() -> frozenset[str]:
    """The options :func:`mark_begin_option` noted.

    Example:
        >>> "sqlrecord_begin_immediate" in begin_options()
        True
    """
    return frozenset(_BEGIN_OPTIONS)


def silencing_options() -> frozenset[str]:
    """The execution options some listener of sqlrecord's own is silent under: an engine
    whose only options are these sends a statement alone as its ``Connection`` would.

    Example:
        >>> "sqlrecord_autocommit" in silencing_options()
        True
    """
    return frozenset(option for option in _OWN.values() if option is not None)
