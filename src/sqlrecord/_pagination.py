"""Pages: offset pagination (``Page``) and keyset pagination (``CursorPage``).

Both are plain generic dataclasses, so Pydantic v2 (and FastAPI's
``response_model=Page[UserOut]``) serialises them; give the item schema
``from_attributes=True`` to read model objects.

A cursor is the sort-key values of the last row on a page, with the sort
order they belong to, as JSON, base64url-encoded and signed (HMAC-SHA256) with
the database's ``cursor_secret``: opaque to clients, and a tampered or foreign
cursor is refused with :class:`~sqlrecord.exceptions.InvalidCursorError`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, false, or_
from sqlalchemy.sql import ColumnElement

from .exceptions import InvalidCursorError, InvalidValueError

__all__ = [
    "CursorPage",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "keyset_condition",
    "page_numbers",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an offset-paginated query.

    Example:
        >>> page = Page.build(["a", "b"], total=5, page=1, per_page=2)
        >>> page.pages, page.has_next, page.has_prev
        (3, True, False)
    """

    items: list[T]
    total: int
    page: int
    per_page: int
    pages: int
    has_next: bool
    has_prev: bool

    @classmethod
    def build(cls, items: Sequence[T], *, total: int, page: int, per_page: int) -> Page[T]:
        """Compute ``pages``, ``has_next`` and ``has_prev`` from the counts.

        Example:
            >>> Page.build([], total=0, page=1, per_page=20).pages
            0
        """
        pages = math.ceil(total / per_page) if total else 0
        return cls(
            items=list(items),
            total=total,
            page=page,
            per_page=per_page,
            pages=pages,
            has_next=page < pages,
            has_prev=page > 1,
        )


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    """One page of a keyset-paginated query; pass ``next_cursor`` as ``after`` for the next.

    Example:
        >>> CursorPage(items=[], next_cursor=None, has_next=False).has_next
        False
    """

    items: list[T]
    next_cursor: str | None
    has_next: bool


def page_numbers(page: Any, per_page: Any) -> tuple[int, int]:
    """Check page arguments: whole numbers, ``page`` >= 1, 1 <= ``per_page`` <= 10,000.

    Example:
        >>> page_numbers(0, 20)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: page takes a whole number >= 1, got 0.
    """
    for name, value, high in (("page", page, None), ("per_page", per_page, 10_000)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidValueError(f"{name} takes a whole number >= 1, got {value!r}.")
        if high is not None and value > high:
            raise InvalidValueError(f"{name} is at most {high}, got {value}.")
    return page, per_page


# -- cursor tokens -------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    raise InvalidValueError(f"cursor() cannot sort by a {type(value).__name__} value.")


_DECODERS: dict[str, Any] = {
    "f": float,
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "n": decimal.Decimal,
    "u": uuid.UUID,
    "b": base64.b64decode,
}


def _decode_value(raw: Any) -> Any:
    if raw is None or isinstance(raw, bool | int | str):
        return raw
    if isinstance(raw, dict) and len(raw) == 1:
        ((tag, text),) = raw.items()
        if tag in _DECODERS and isinstance(text, str):
            return _DECODERS[tag](text)
    raise ValueError("unknown value tag")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:16]


def encode_cursor(order: str, values: Sequence[Any], *, secret: bytes) -> str:
    """Sign the sort-key ``values`` of a row, for the sort ``order`` they belong to.

    Example:
        >>> token = encode_cursor("-created_at|id", [None, 7], secret=b"k")
        >>> decode_cursor(token, "-created_at|id", secret=b"k")
        [None, 7]
    """
    payload = json.dumps(
        {"o": order, "v": [_encode_value(value) for value in values]}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def decode_cursor(token: Any, order: str, *, secret: bytes) -> list[Any]:
    """Verify and read a cursor made by :func:`encode_cursor` for the same ``order``.

    Example:
        >>> decode_cursor("not-a-cursor", "id", secret=b"k")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidCursorError: This cursor is not valid ...
    """
    invalid = InvalidCursorError(
        "This cursor is not valid for this query: pass back `next_cursor` exactly as a "
        "previous page of the same query (same order_by) returned it."
    )
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
        raise invalid
    body, signature = token.split(".")
    try:
        payload, given = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(given, _signature(secret, payload)):
        raise invalid
    try:
        data = json.loads(payload)
        if data["o"] != order:
            raise invalid
        return [_decode_value(raw) for raw in data["v"]]
    except (KeyError, TypeError, ValueError, decimal.InvalidOperation):
        raise invalid from None


def keyset_condition(
    columns: Sequence[Any],
    descending: Sequence[bool],
    nullable: Sequence[bool],
    values: Sequence[Any],
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order (NULL last ascending, first descending).

    ``(a, b) > (x, y)`` spelled out as ``a after x OR (a = x AND b after y)``,
    which works with mixed directions and NULLs on every database.

    Example:
        >>> print(keyset_condition([User.email, User.id], [False, False], [False, False], ["k", 3]))
        doc_users.email > :email_1 OR doc_users.email = :email_2 AND doc_users.id > :id_1
    """
    alternatives: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for column, desc, may_be_null, value in zip(columns, descending, nullable, values, strict=True):
        after = _after(column, desc, may_be_null, value)
        alternatives.append(and_(*equal_so_far, after) if equal_so_far else after)
        equal_so_far.append(column.is_(None) if value is None else column == value)
    return or_(*alternatives)


def _after(column: Any, descending: bool, nullable: bool, value: Any) -> ColumnElement[bool]:
    if value is None:  # NULLs are last ascending, first descending
        return column.is_not(None) if descending else false()
    if descending:
        return column < value  # type: ignore[no-any-return]
    return or_(column > value, column.is_(None)) if nullable else column > value
