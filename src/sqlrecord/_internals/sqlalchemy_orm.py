"""Private names of SQLAlchemy's ORM: session transactions, loaders, attribute
implementations (who listens to events: ``sqlalchemy_events``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import (
    InstanceState,
    LoaderCallableStatus,
    Mapper,
    Session,
    SessionTransaction,
)
from sqlalchemy.orm.base import NO_RAISE, SQL_OK
from sqlalchemy.util.concurrency import in_greenlet

__all__ = [
    "NO_VALUE",
    "connections_opened_by",
    "guard_column_loads",
    "guard_relationship_loads",
    "has_checked_out_connection",
    "loaded_value_unchanged",
    "mark_deleted",
    "mark_inserted",
    "mark_updated",
    "register_inserted",
    "savepoint_hidden",
]

#: An attribute's "previous value" when none was loaded (``LoaderCallableStatus``
#: is documented, ``sqlalchemy.orm.base``, where the symbol is usually imported
#: from, is not; the member cannot be imported by name, so it is named here).
NO_VALUE = LoaderCallableStatus.NO_VALUE


def connections_opened_by(session: Session) -> list[Connection]:
    """The connections ``session``'s transaction checked out itself (not ones it was
    bound to), as ``Session.close`` finds them, so that closing them first ends each
    transaction once instead of twice (``_unit.close_session``).

    Reads ``SessionTransaction._connections``: no public API lists a transaction's
    connections with whether it opened them.

    Example:
        >>> from sqlalchemy import create_engine
        >>> connections_opened_by(Session(create_engine("sqlite://")))
        []
    """
    transaction = session.get_transaction()
    if transaction is None:
        return []
    entries: Any = transaction._connections.values()
    return [connection for connection, _, _, opened_here in set(entries) if opened_here]


def has_checked_out_connection(session: Session) -> bool:
    """Whether ``session``'s transaction has checked out a connection (sent or begun
    anything).

    ``Session.in_transaction()`` does not tell: adding an object begins the
    session's transaction before any connection is needed. The public
    ``SessionTransaction.connections`` exists only from SQLAlchemy 2.1.7; before,
    the private dict it reads (``_connections``; the root transaction is its own
    boundary).

    Example:
        >>> from sqlalchemy import create_engine, text
        >>> session = Session(create_engine("sqlite://"))
        >>> session.begin()  # doctest: +ELLIPSIS
        <sqlalchemy.orm.session.SessionTransaction object at ...>
        >>> has_checked_out_connection(session)
        False
        >>> _ = session.execute(text("SELECT 1")); has_checked_out_connection(session)
        True
        >>> session.close()
    """
    transaction = session.get_transaction()
    if transaction is None:
        return False
    if hasattr(transaction, "connections"):  # SQLAlchemy >= 2.1.7
        return bool(transaction.connections)
    return bool(transaction._connections)


def mark_inserted(state: InstanceState[Any], key: tuple[Any, ...]) -> None:
    """Leave a new object's ``state`` as a flush that inserted its row leaves it, once
    its session is closed: the identity ``key`` set, its loaded values committed (no
    history, nothing modified), in no session.

    Example:
        >>> from sqlalchemy import inspect
        >>> memo = Memo(id=7, text="hi")
        >>> mark_inserted(inspect(memo), inspect(Memo).identity_key_from_primary_key([7]))
        >>> inspect(memo).detached, inspect(memo).modified, inspect(memo).attrs.text.history
        (True, False, History(added=(), unchanged=['hi'], deleted=()))
    """
    state.key = key
    mark_updated(state)  # its values committed, as for any flushed state


def loaded_value_unchanged(state: InstanceState[Any], key: str, loaded: Any) -> bool:
    """Whether attribute ``key`` of ``state`` holds a value equal to ``loaded``, the value it
    was loaded with, as the flush compares them (the attribute's ``AttributeImpl.is_equal``,
    which follows the column type's comparator): the flush writes only the ones that differ.

    Example:
        >>> from sqlalchemy import inspect
        >>> memo = Memo(text="hi")
        >>> loaded_value_unchanged(inspect(memo), "text", "hi")
        True
        >>> loaded_value_unchanged(inspect(memo), "text", "hello")
        False
    """
    return state.manager[key].impl.is_equal(state.dict[key], loaded) is True


def mark_deleted(state: InstanceState[Any]) -> None:
    """Leave a detached object's ``state``, whose row was just deleted by its key, as a
    flush of that DELETE and the session's commit leave it: deleted, in no session.

    Example:
        >>> from sqlalchemy import inspect
        >>> from sqlalchemy.orm import make_transient_to_detached
        >>> memo = Memo(id=7, text="hi")
        >>> make_transient_to_detached(memo)
        >>> mark_deleted(inspect(memo))
        >>> inspect(memo).was_deleted, inspect(memo).detached
        (True, True)
    """
    # What Session._remove_newly_deleted does, and the commit's detach keeps.
    state._deleted = True


def mark_updated(state: InstanceState[Any]) -> None:
    """Leave a detached object's ``state``, whose changed values were just written by its
    key, as a flush of that UPDATE leaves it once its session is closed: its loaded values
    committed (no history, nothing modified), in no session.

    Example:
        >>> from sqlalchemy import inspect
        >>> from sqlalchemy.orm import make_transient_to_detached
        >>> memo = Memo(id=7, text="hi")
        >>> make_transient_to_detached(memo)
        >>> memo.text = "hello"
        >>> mark_updated(inspect(memo))
        >>> inspect(memo).modified, inspect(memo).attrs.text.history
        (False, History(added=(), unchanged=['hello'], deleted=()))
    """
    # What Session._register_persistent does for a flushed state (one state, no session).
    state._commit_all(state.dict)


def register_inserted(session: Session, state: InstanceState[Any]) -> None:
    """Make the pending ``state``, whose row was just inserted, persistent in ``session``
    as a flush does: in the identity map, its values committed, and noted as new in the
    session's transaction (a rollback of that transaction makes the object transient
    again, as it would after the flush).

    Example:
        >>> from sqlalchemy import create_engine, inspect
        >>> session = Session(create_engine("sqlite://"))
        >>> session.add(memo := Memo(id=7, text="hi"))
        >>> register_inserted(session, inspect(memo))
        >>> inspect(memo).persistent, memo in session.new, session.get(Memo, 7) is memo
        (True, False, True)
        >>> session.rollback(); inspect(memo).transient
        True
    """
    # What the flush's end (UOWTransaction.finalize_flush_changes) does for a new state.
    session._register_persistent({state})


# -- sqlrecord's SAVEPOINT kept out of the session's transaction events -----------

# Events that tell a listener the unit of work committed or rolled back. SQLAlchemy
# fires them for a SAVEPOINT's release and rollback too (``SessionTransaction.commit``
# and ``rollback`` do so for nested transactions, and a flush that fails inside one
# rolls it back), where a user's ``after_commit`` ("send the e-mail now") would run
# before the real COMMIT, or even in a unit that is rolled back later.
_COMMIT_EVENTS = ("before_commit", "after_commit", "after_rollback", "after_soft_rollback")


class _Silent:
    """Stands in for a listener collection: called, does nothing; tested, is empty."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __bool__(self) -> bool:
        return False


_SILENT = _Silent()


class _BeginsBut:
    """``after_begin`` listeners that are not told of one transaction (the SAVEPOINT)."""

    __slots__ = ("hidden", "listeners")

    def __init__(self, listeners: Any, hidden: SessionTransaction) -> None:
        self.listeners = listeners
        self.hidden = hidden

    def __call__(self, session: Session, transaction: Any, connection: Any) -> None:
        if transaction is not self.hidden:
            self.listeners(session, transaction, connection)

    def __bool__(self) -> bool:
        return bool(self.listeners)


@contextmanager
def savepoint_hidden(session: Session, savepoint: SessionTransaction) -> Iterator[None]:
    """While the block runs, ``savepoint`` (a SAVEPOINT of sqlrecord's own, begun
    just before) is no transaction to the session's listeners: its ``after_begin``
    is not fired, nor any commit or rollback event while it lasts (its release, its
    rollback, a failed flush rolling it back). Flush, state-change and
    ``after_transaction_*`` events fire as usual, and so does ``after_begin`` for
    the unit's own transaction should it begin within the block.

    The session's listener collections (its ``dispatch``) are swapped for the block
    only: no public API suspends an event. The block is sqlrecord's own code and the
    flush it runs, where no commit or rollback of the unit itself can happen.

    Example:
        >>> from sqlalchemy import create_engine, event, text
        >>> session = Session(create_engine("sqlite://"))
        >>> seen = []
        >>> for name in ("after_begin", "after_commit"):
        ...     event.listen(session, name, lambda *args, name=name: seen.append(name))
        >>> _ = session.execute(text("SELECT 1"))
        >>> savepoint = session.begin_nested()
        >>> with savepoint_hidden(session, savepoint):
        ...     _ = session.execute(text("SELECT 2"))
        ...     savepoint.commit()
        >>> session.commit(); seen
        ['after_begin', 'after_commit']
    """
    if not savepoint.nested:
        raise ValueError("Only a SAVEPOINT (a nested transaction) can be hidden.")
    dispatch: Any = session.dispatch
    saved = [(name, getattr(dispatch, name)) for name in (*_COMMIT_EVENTS, "after_begin")]
    for name in _COMMIT_EVENTS:
        setattr(dispatch, name, _SILENT)
    dispatch.after_begin = _BeginsBut(dispatch.after_begin, savepoint)
    try:
        yield
    finally:
        for name, listeners in saved:
            setattr(dispatch, name, listeners)


# -- relationship loads outside SQLAlchemy's greenlet ----------------------------

_GUARDED = "_sqlrecord_guarded"


def _guarded(loader: Any, refuse: Callable[[], Exception]) -> Any:
    def load(state: Any, passive: Any) -> Any:
        if in_greenlet() or not passive & SQL_OK:
            return loader(state, passive)
        # Ask for the value without SQL and without raising: it comes back
        # when the identity map has it, PASSIVE_NO_RESULT when a query is needed.
        value = loader(state, (passive & ~SQL_OK) | NO_RAISE)
        if value is LoaderCallableStatus.PASSIVE_NO_RESULT:
            raise refuse()
        return value

    setattr(load, _GUARDED, True)
    return load


def guard_relationship_loads(mapper: Mapper[Any], refuse: Callable[[str], Exception]) -> None:
    """Make each relationship of ``mapper`` load, outside SQLAlchemy's greenlet (where
    a query would fail with ``MissingGreenlet``), only a value that needs no SQL (a
    many-to-one target already in the identity map), and raise ``refuse(key)``
    instead of a query. Inside the greenlet (``run_sync``, a flush) loads are as
    before. Idempotent: a loader guarded once is left alone.

    Wraps each relationship attribute's loader callable (``impl.callable_``) and
    calls it with the private passive flags (``SQL_OK``, ``NO_RAISE``): the public
    ``lazy="raise_on_sql"`` would refuse loads inside the greenlet too, and a
    ``load`` event fires too late.
    """
    manager = mapper.class_manager
    for relation in mapper.relationships:
        impl: Any = manager[relation.key].impl
        loader = impl.callable_
        if loader is not None and not getattr(loader, _GUARDED, False):
            impl.callable_ = _guarded(loader, functools.partial(refuse, relation.key))


# -- column loads outside SQLAlchemy's greenlet ------------------------------------

#: The guarded subclass made for each attribute implementation class (and refusal).
_GUARDED_IMPLS: dict[tuple[type[Any], Any], type[Any]] = {}


def _guarded_impl_class(impl_class: type[Any], refuse: Callable[[Any, str], Exception]) -> Any:
    guarded = _GUARDED_IMPLS.get((impl_class, refuse))
    if guarded is not None:
        return guarded
    fire = impl_class._fire_loader_callables

    def _fire_loader_callables(self: Any, state: Any, key: str, passive: Any) -> Any:
        if in_greenlet() or not passive & SQL_OK:
            return fire(self, state, key, passive)
        # The same loaders, told that no SQL may run: a value they have without a
        # query comes back; PASSIVE_NO_RESULT where the load needs one.
        value = fire(self, state, key, passive & ~SQL_OK)
        if value is LoaderCallableStatus.PASSIVE_NO_RESULT:
            raise refuse(state.class_, key)
        return value

    guarded = type(
        f"Guarded{impl_class.__name__.lstrip('_')}",
        (impl_class,),
        {"__slots__": (), "_fire_loader_callables": _fire_loader_callables},
    )
    _GUARDED_IMPLS[(impl_class, refuse)] = guarded
    return guarded


def guard_column_loads(mapper: Mapper[Any], refuse: Callable[[Any, str], Exception]) -> None:
    """Make each column attribute of ``mapper`` that is not loaded (left out by a
    ``load_only``/``defer`` option, deferred by the mapping, expired) raise
    ``refuse(model class, key)`` when it is read outside SQLAlchemy's greenlet, where
    its load would fail with ``MissingGreenlet`` (or ``DetachedInstanceError`` once the
    session closed). Inside the greenlet (``run_sync``, a flush, a refresh) loads are
    as before; a loaded value is read as before, without this code running at all.
    Idempotent.

    An unloaded column is loaded by one of three routes (an expired attribute, a
    per-object deferred loader, the mapping's deferred loader), all chosen in the
    attribute implementation's private ``_fire_loader_callables``: the implementation
    of each column is given a subclass (no new slots) that calls it without the
    private ``SQL_OK`` flag first. No public hook sits on that route: an attribute
    event fires on sets, not on loads, and ``raiseload`` would refuse the loads inside
    the greenlet too.
    """
    manager = mapper.class_manager
    for prop in mapper.column_attrs:
        impl: Any = manager[prop.key].impl
        if type(impl) in _GUARDED_IMPLS.values():
            continue
        impl.__class__ = _guarded_impl_class(type(impl), refuse)
