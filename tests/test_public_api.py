"""The public API is explicit (``__all__``) and documented (a docstring with an example)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from typing import Any

import pytest

import sqlrecord
from sqlrecord import class_property

PUBLIC_MODULES = sorted(
    f"sqlrecord.{info.name}"
    for info in pkgutil.iter_modules(sqlrecord.__path__)
    if not info.name.startswith("_")
)


def _public_names() -> list[tuple[str, str, Any]]:
    found = []
    for module_name in ["sqlrecord", *PUBLIC_MODULES]:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            found.append((module_name, name, getattr(module, name)))
    return found


@pytest.mark.parametrize("module_name", ["sqlrecord", *PUBLIC_MODULES])
def test_every_public_module_declares_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert isinstance(module.__all__, list)
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


def test_top_level_exports_the_building_blocks() -> None:
    for name in [
        "Database",
        "BaseMixin",
        "ObjectMixin",
        "CRUDMixin",
        "BaseModel",
        "class_property",
    ]:
        assert name in sqlrecord.__all__
    from sqlrecord import exceptions

    assert exceptions.SQLRecordError.__subclasses__()


def _members(owner: Any) -> list[tuple[str, Any]]:
    """Public methods and properties the class defines itself, or takes from a class in a
    private sqlrecord module (``Query``'s halves), not hooks it overrides."""
    inherited = {
        name
        for base in owner.__mro__[1:]
        if not base.__module__.startswith("sqlrecord")
        for name in vars(base)
    }
    sources = [owner, *(base for base in owner.__mro__[1:] if _is_private_sqlrecord(base))]
    members: dict[str, Any] = {}
    for source in sources:
        for name, value in vars(source).items():
            if name.startswith("_") or name in inherited or name in members:
                continue
            documented_kinds = classmethod | staticmethod | property | class_property
            if inspect.isfunction(value) or isinstance(value, documented_kinds):
                members[name] = value
    return list(members.items())


def _is_private_sqlrecord(cls: type) -> bool:
    module = cls.__module__
    return module.startswith("sqlrecord.") and module.rsplit(".", 1)[-1].startswith("_")


def _is_type_alias(value: Any) -> bool:
    return typing.get_origin(value) is not None


@pytest.mark.parametrize(
    ("module_name", "name", "value"),
    # Constants (FORM_NOISE, ...) and type aliases are documented by a comment, not a
    # docstring (test_type_aliases_have_a_doc_comment).
    [entry for entry in _public_names() if callable(entry[2]) and not _is_type_alias(entry[2])],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_public_names_have_docstrings_with_examples(
    module_name: str, name: str, value: Any
) -> None:
    doc = inspect.getdoc(value) or ""
    assert ">>>" in doc, f"{module_name}.{name} needs a docstring with an example"
    if inspect.isclass(value) and value.__module__.startswith("sqlrecord"):
        for member_name, member in _members(value):
            target = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            member_doc = inspect.getdoc(target) or ""
            assert ">>>" in member_doc, f"{name}.{member_name} needs a docstring with an example"


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(module, name) for module, name, value in _public_names() if _is_type_alias(value)],
)
def test_type_aliases_have_a_doc_comment(module_name: str, name: str) -> None:
    """A type alias cannot hold a docstring: a ``#:`` comment above it says what it is."""
    sources = [importlib.import_module(module_name)] + [
        importlib.import_module(f"sqlrecord.{info.name}")
        for info in pkgutil.iter_modules(sqlrecord.__path__)
        if info.name.startswith("_")
    ]
    for module in sources:
        lines = inspect.getsource(module).splitlines()
        found = [n for n, line in enumerate(lines) if line.startswith(f"{name} = ")]
        if found:
            assert lines[found[0] - 1].startswith("#:"), f"{name} needs a '#:' comment"
            return
    raise AssertionError(f"{module_name}.{name}: no assignment found")
