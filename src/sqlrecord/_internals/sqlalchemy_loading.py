"""Private names of SQLAlchemy's ORM loading: which mappings and queries its loading
leaves as plain as a row, the SELECT ``session.get`` sends, and the objects it builds from
rows and then leaves detached when its session closes (``_reads_alone.py``).

What the ORM's ``session.get`` of an object in a new session does, once the row is in
(``loading._instance_processor`` and ``_populate_full``, then ``Session.close``):
``ClassManager.new_instance`` (no ``__init__``), the identity key from the row's key
columns, the run's id, the query's load path and (no) options, each column's value
into the object's ``__dict__``, nothing for a lazy relationship loaded by its class's
own loader, the ``load`` event; and at the close, the session's mark cleared. None of
the state's fields it sets has a public setter.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Engine, ForeignKey, Select, Table, and_, bindparam, select
from sqlalchemy.orm import (
    ColumnProperty,
    DeclarativeBase,
    Mapped,
    Mapper,
    RelationshipProperty,
    Session,
    mapped_column,
    relationship,
)
from sqlalchemy.orm.descriptor_props import DescriptorProperty
from sqlalchemy.orm.loading import _new_runid

from .sqlalchemy_engine import compile_cached

__all__ = [
    "KeySelect",
    "configure_for_load",
    "key_select",
    "loaded_rows",
    "why_not_plain_load",
    "why_select_loads_otherwise",
    "why_session_loads_otherwise",
]

# What a Session does for get(): a subclass that overrides any of them may load otherwise
# (another bind, a shard's identity token, options of its own).
_SESSION_GET = (
    "get",
    "_get_impl",
    "_identity_lookup",
    "execute",
    "_execute_internal",
    "get_bind",
    "connection",
    "_connection_for_bind",
)


class KeySelect:
    """The SELECT the ORM's ``session.get`` sends for a mapper: its columns in the ORM's
    order, by the key columns' ``pk_<n>`` parameters (``Mapper._get_clause``'s names);
    ``keys``: each column's attribute, in the SELECT's order; ``key_at``: where the
    primary key's columns are in a row.

    Example:
        >>> from sqlalchemy import inspect
        >>> by_key = key_select(inspect(Label))
        >>> print(by_key.statement)
        SELECT doc_labels.id, doc_labels.name
        FROM doc_labels
        WHERE doc_labels.id = :pk_1
        >>> by_key.keys, by_key.key_at, by_key.parameters((7,))
        (('id', 'name'), (0,), {'pk_1': 7})
    """

    __slots__ = ("key_at", "keys", "names", "statement")

    def __init__(self, statement: Select[Any], keys: tuple[str, ...], key_at: tuple[int, ...]):
        self.statement = statement
        self.keys = keys
        self.key_at = key_at
        self.names = tuple(f"pk_{n}" for n in range(1, len(key_at) + 1))

    def parameters(self, key: Sequence[Any]) -> dict[str, Any]:
        """The statement's parameters for the primary key ``key`` (a value per key column)."""
        return dict(zip(self.names, key, strict=True))


def configure_for_load(mapper: Mapper[Any]) -> None:
    """Configure the mappers not configured yet, as the ORM's ``session.get`` does first
    (``Mapper._check_configure``: configuring adds the relationships' loaders).

    Example:
        >>> from sqlalchemy import inspect
        >>> configure_for_load(inspect(Label)); inspect(Label).configured
        True
    """
    mapper._check_configure()


def why_session_loads_otherwise(session: Session, mapper: Mapper[Any], bind: Engine) -> str | None:
    """Why ``session.get`` of a ``mapper`` object might load it otherwise than by its
    SELECT on ``bind``: a session class that overrides a step of it, the session's own
    execution options, or another bind for the mapper. ``None`` when it would not.

    Example:
        >>> from sqlalchemy import create_engine, inspect
        >>> engine = create_engine("sqlite://")
        >>> why_session_loads_otherwise(Session(engine), inspect(Label), engine) is None
        True
        >>> class Routing(Session):
        ...     def get_bind(self, mapper=None, **kw): return engine
        >>> why_session_loads_otherwise(Routing(engine), inspect(Label), engine)
        'the session class Routing overrides get_bind()'
    """
    overridden = _overridden(type(session))  # type: ignore[arg-type]  # classes hash
    if overridden is not None:
        return f"the session class {type(session).__name__} overrides {overridden}()"
    if getattr(session, "execution_options", None):  # SQLAlchemy 2.1's Session option
        return "the session has execution options of its own"
    if session.get_bind(mapper) is not bind:
        return "the session has another bind for the model"
    return None


@functools.cache
def _overridden(session_class: type[Session]) -> str | None:
    for name in _SESSION_GET:
        if getattr(session_class, name) is not getattr(Session, name):
            return name
    return None


def why_not_plain_load(mapper: Mapper[Any]) -> str | None:
    """Why the ORM's loading of one ``mapper`` object by key may do more than put each
    column of its row into the object: inheritance, a property loaded otherwise than a
    plain column (deferred, an expression, several columns) or a relationship loaded
    otherwise than by its class's lazy loader, a mapper that refreshes on every load;
    ``None`` when it does only that. Per mapper and its number of properties
    (configuring another mapper may add a backref to it).

    Example:
        >>> from sqlalchemy import inspect
        >>> why_not_plain_load(inspect(Label)) is None
        True
    """
    return _why_not_plain_load(mapper, len(mapper.attrs))


@functools.cache
def _why_not_plain_load(mapper: Mapper[Any], _properties: int) -> str | None:
    if not isinstance(mapper.local_table, Table):
        return "the model is not mapped to a plain table"
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return "inheritance: the loading picks the class by the row"
    if (
        mapper.with_polymorphic
        or mapper.always_refresh
        or mapper._identity_class is not mapper.class_
    ):
        return "the mapper loads other classes, or refreshes its objects on each load"
    column_loader, lazy_loader = _plain_loaders()
    for prop in mapper.iterate_properties:
        if isinstance(prop, ColumnProperty):
            columns = prop.columns
            if type(prop.strategy) is not column_loader or len(columns) != 1:
                return f"{prop.key!r} is not loaded as a plain column (deferred, an expression)"
            if not isinstance(columns[0], Column) or columns[0].table is not mapper.local_table:
                return f"{prop.key!r} is not a column of the model's table"
        elif isinstance(prop, RelationshipProperty):
            if type(prop.strategy) is not lazy_loader or not prop.strategy.is_class_level:
                return f"the relationship {prop.key!r} is loaded with its object ({prop.lazy!r})"
        elif not isinstance(prop, DescriptorProperty):  # a synonym, a composite: no loading
            return f"{prop.key!r} is a property of its own kind"
    return None


@functools.cache
def _plain_loaders() -> tuple[type[Any], type[Any]]:
    """The loader classes of a plain column and of a relationship's default ``lazy``,
    read from a probe mapping (their names differ between releases)."""

    class Base(DeclarativeBase):
        pass

    class Parent(Base):
        __tablename__ = "probe_parent"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Child(Base):
        __tablename__ = "probe_child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int] = mapped_column(ForeignKey("probe_parent.id"))
        parent: Mapped[Parent] = relationship()

    mapper = Child.__mapper__
    mapper._check_configure()
    return type(mapper.attrs["id"].strategy), type(mapper.attrs["parent"].strategy)


def key_select(mapper: Mapper[Any]) -> KeySelect:
    """The SELECT of ``mapper``'s columns by its primary key that the ORM's
    ``session.get`` sends, for a mapper :func:`why_not_plain_load` passes (see
    :class:`KeySelect`)."""
    return _key_select(mapper, len(mapper.attrs))


@functools.cache
def _key_select(mapper: Mapper[Any], _properties: int) -> KeySelect:
    props = list(mapper.column_attrs)
    columns: list[Any] = [prop.columns[0] for prop in props]
    key_columns = list(mapper.primary_key)
    where = and_(
        *(
            column == bindparam(f"pk_{n}", type_=column.type)
            for n, column in enumerate(key_columns, start=1)
        )
    )
    key_at = tuple(columns.index(column) for column in key_columns)
    keys = tuple(prop.key for prop in props)
    return KeySelect(select(*columns).where(where), keys, key_at)


def loaded_rows(mapper: Mapper[Any], by_key: KeySelect, rows: Sequence[Any]) -> list[Any]:
    """The objects the ORM's loading builds from ``rows`` (the values of ``by_key``'s
    columns, through their types) in a new session, as that session's close leaves them:
    detached, their loaded values committed, no history; listed as its
    ``scalars(...).all()`` lists them (one load run for all: a row whose key is all NULL
    gives ``None``, and rows of one key give the one object). For a mapper
    :func:`why_not_plain_load` passes and nothing listens to its ``load`` or to sessions
    (the caller's proof).

    Example:
        >>> from sqlalchemy import inspect
        >>> mapper = inspect(Label)
        >>> rows = [(7, "a"), (7, "a"), (8, "b")]
        >>> first, again, other = loaded_rows(mapper, key_select(mapper), rows)
        >>> first is again, other.name
        (True, 'b')
        >>> state = inspect(first)
        >>> state.detached, state.key[1], state.modified
        (True, (7,), False)
    """
    new_instance, keys, key_at = mapper.class_manager.new_instance, by_key.keys, by_key.key_at
    class_, at = mapper.class_, key_at[0] if len(key_at) == 1 else None
    # The state's fields after the key, in the order the loading, then the close, set
    # them: one run for all the rows, as the ORM's one query.
    fields = {
        "identity_token": None,
        "session_id": None,
        "_instance_dict": _CLOSED_MAP,
        "load_options": (),
        "load_path": mapper._path_registry,
        "runid": _new_runid(),
        "_strong_obj": None,
    }
    built: dict[tuple[Any, ...], Any] = {}
    objects: list[Any] = []
    for row in rows:
        key = (row[at],) if at is not None else tuple(row[each] for each in key_at)
        obj = built.get(key)
        if obj is None:
            if None in key and all(part is None for part in key):
                objects.append(None)
                continue
            obj = built[key] = new_instance()
            state = obj._sa_instance_state.__dict__
            state["key"] = (class_, key, None)
            state.update(fields)
            obj.__dict__.update(zip(keys, row, strict=True))
        objects.append(obj)
    return objects


def why_select_loads_otherwise(
    statement: Select[Any], mapper: Mapper[Any], engine: Engine
) -> str | None:
    """Why the ORM's loading of ``statement``'s rows might do more than build ``mapper``
    objects from the mapper's columns (:func:`loaded_rows`): it selects something else or
    more, or carries loader options (``Select._with_options``, private) or execution
    options; or, compiled for ``engine`` (its cache), its columns are not the ones
    :func:`key_select` reads, in that order. ``None`` when it does only that.

    Example:
        >>> from sqlalchemy import create_engine, inspect, select
        >>> from sqlalchemy.orm import defer
        >>> engine, mapper = create_engine("sqlite://"), inspect(Label)
        >>> why_select_loads_otherwise(select(Label).where(Label.id > 3), mapper, engine) is None
        True
        >>> why_select_loads_otherwise(select(Label).options(defer(Label.name)), mapper, engine)
        'the query has loader options'
    """
    described = statement.column_descriptions
    if len(described) != 1 or described[0]["expr"] is not mapper.class_:
        return "the query selects more than the model's objects"
    # SQLAlchemy 2.0 keeps some options apart (``_with_context_options``); 2.1 does not.
    if statement._with_options or getattr(statement, "_with_context_options", ()):
        return "the query has loader options"
    if statement.get_execution_options():
        return "the query has execution options"
    compiled = compile_cached(statement, engine, []).compiled
    if not _reads_key_columns(compiled, mapper):
        return "the query's columns are not the model's"
    return None


def _reads_key_columns(compiled: Any, mapper: Mapper[Any]) -> bool:
    """Whether the compiled SELECT's columns are :func:`key_select`'s, one for one (by the
    compiled form's id, as ``direct`` keeps its facts: few shapes)."""
    cached = _COLUMNS_READ.get(id(compiled))
    if cached is not None and cached[0] is compiled:
        return cached[1]
    wanted = list(key_select(mapper).statement.selected_columns)
    got = [entry[2][0] if entry[2] else None for entry in compiled._result_columns]
    same = (
        bool(compiled._ordered_columns)
        and len(got) == len(wanted)
        and all(column is each for column, each in zip(got, wanted, strict=True))
    )
    if len(_COLUMNS_READ) >= 512:
        _COLUMNS_READ.clear()
    _COLUMNS_READ[id(compiled)] = (compiled, same)  # kept: its id stays its own
    return same


_COLUMNS_READ: dict[int, tuple[Any, bool]] = {}


class _IdentityMap:
    pass


#: What a loaded object's state holds once its session closed: a reference to the
#: session's identity map, which is gone.
_CLOSED_MAP = weakref.ref(_IdentityMap())
