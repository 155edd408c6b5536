"""What every contestant implements, and the helpers they share.

A contestant is one way of talking to the database. Each benchmark operation is one method
(see ``benchmarks.operations``); a contestant without a real equivalent leaves the method out
and names the reason in ``not_available``, and the report prints "n/a".
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, ClassVar

from ..targets import Target

__all__ = ["Contestant", "Handle", "keyset_page_size"]

#: Whatever a contestant needs to update or delete one row: an id, or a loaded object.
Handle = Any


def keyset_page_size(limit: int) -> int:
    """Rows a keyset page asks for: one more than shown, to know whether a next page exists."""
    return limit + 1


class Contestant:
    """Base class: lifecycle, versions and the objects an update or delete works on."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: The driver of a driver row (``contestants.DRIVER_ROWS``); None: the target's first.
    other_driver: str | None = None
    #: A defaults row (``contestants.DEFAULTS_ROWS``): the library as a new user runs it, at
    #: its documented defaults, with no pool size or session option set by the harness.
    at_defaults: bool = False
    #: method name -> why this contestant has no such operation.
    not_available: ClassVar[dict[str, str]] = {}

    async def start(self, target: Target) -> None:
        """Open engines and pools; called once per run."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Close everything ``start`` opened."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Package name -> version of what this contestant runs on."""
        return {}

    def driver_version(self) -> dict[str, str]:
        """A driver row's driver and its version (nothing for the others)."""
        return {} if self.other_driver is None else {self.other_driver: version(self.other_driver)}

    async def handles(self, model: str, ids: list[int]) -> list[Handle]:
        """Turn ids into what ``update_*`` and ``delete`` take (untimed).

        Object-based APIs load the objects here, as an application would have them at hand
        from an earlier read; statement-based ones keep the ids.
        """
        return ids

    def supports(self, method: str) -> bool:
        """Whether this contestant has a real ``method``."""
        return method not in self.not_available and callable(getattr(self, method, None))
