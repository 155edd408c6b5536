"""The statements of one ``bulk_update``, and what they stored for the objects.

Per table that holds a field (and the version's table), one ``UPDATE table SET
… WHERE key = … [AND version = …]`` sent as an executemany: what SQLAlchemy's
ORM bulk UPDATE by primary key sends, each other column's ``onupdate`` included,
but one executemany for a versioned model too (the ORM sends those one row at a
time). A row missing, or at another version than its object's, fails the call: one
locking read per batch of keys checks the rows first for a versioned model, and on
asyncpg, which does not count an executemany's rows; otherwise the UPDATEs' own row
count finds a missing row. After the UPDATEs, a read of the columns the database or an ``onupdate``
set, so that the objects can show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from ._key_batches import batches, key_condition, keys_per_statement
from ._model_info import model_info
from .exceptions import ConfigurationError, StaleObjectError

__all__ = ["UpdatePlan", "Written", "describe_key"]

#: Room left in a locking read's parameters for the criteria SQLAlchemy adds
#: (a single-table subclass's discriminator).
_SPARE_PARAMETERS = 100


class Written:
    """What the UPDATEs stored beyond the fields: each object's new version and the
    values of the columns the database (or an ``onupdate``) set."""

    __slots__ = ("names", "objects", "stored")

    def __init__(self, objects: list[Any], names: list[str]) -> None:
        self.objects = objects
        self.names = names
        self.stored: dict[Any, dict[str, Any]] = {}

    def apply(self, session: AsyncSession) -> None:
        """Set what was written on the objects, and on the copies the session holds of
        the same rows (as the ORM's bulk UPDATE keeps its identity map in step)."""
        identity_map = session.sync_session.identity_map
        for obj in self.objects:
            state: InstanceState[Any] = instance_state(obj)
            stored = self.stored.get(state.key, {})
            held = identity_map.get(state.key) if state.key is not None else None
            if held is not None and held is not obj:
                for name in self.names:
                    set_committed_value(held, name, state.dict[name])
                for key, value in stored.items():
                    set_committed_value(held, key, value)
            for key, value in stored.items():
                set_committed_value(obj, key, value)


class UpdatePlan:
    """The statements of one ``bulk_update``: the locking check, one UPDATE per table
    with fields (and the version's table), and the read-back of database-set columns."""

    def __init__(self, model: type[Any], names: list[str]) -> None:
        mapper: Mapper[Any] = inspect(model)
        self.model = model
        self.names = names
        self.version = mapper.version_id_col
        if self.version is not None and mapper.version_id_generator is False:
            raise ConfigurationError(
                f"{model.__name__}'s version is set by the database, so bulk_update() "
                "cannot say which version each row gets. Update such rows with save()."
            )
        key_of: dict[Any, str] = {
            column: prop.key for prop in mapper.column_attrs for column in prop.columns
        }
        self.key_names = [key_of[column] for column in mapper.primary_key]
        self.version_key = None if self.version is None else key_of[self.version]
        chosen = {mapper.get_property(name).columns[0]: name for name in names}
        self.tables = [
            table
            for table in mapper.tables
            if any(column.table is table for column in chosen)
            or (self.version is not None and self.version.table is table)
        ]
        self.statements = [self._statement(table, chosen, key_of) for table in self.tables]
        # Columns the database or an onupdate sets on these tables: read back afterwards.
        self.refreshed = [
            key_of[column]
            for table in self.tables
            for column in table.columns
            if (column.onupdate is not None or column.server_onupdate is not None)
            and column in key_of
            and column not in chosen
            and column is not self.version
            and not column.primary_key
        ]

    def _statement(
        self, table: Any, chosen: dict[Any, str], key_of: dict[Any, str]
    ) -> tuple[Any, list[tuple[str, str]]]:
        """``UPDATE table SET … WHERE key = … [AND version = …]`` and which bound
        parameter takes which attribute (``version`` and ``next version`` by name)."""
        taken = {column.key for column in table.columns}
        prefix = "p_"
        while any(name.startswith(prefix) for name in taken):
            prefix = "_" + prefix
        where: list[Any] = []
        values: dict[Any, Any] = {}
        params: list[tuple[str, str]] = []
        for n, column in enumerate(table.primary_key.columns):
            where.append(column == bindparam(f"{prefix}k{n}", type_=column.type))
            params.append((f"{prefix}k{n}", key_of[column]))
        for n, (column, name) in enumerate(chosen.items()):
            if column.table is table:
                values[column] = bindparam(f"{prefix}v{n}", type_=column.type)
                params.append((f"{prefix}v{n}", name))
        if self.version is not None and self.version.table is table:
            where.append(self.version == bindparam(f"{prefix}old", type_=self.version.type))
            values[self.version] = bindparam(f"{prefix}new", type_=self.version.type)
            params += [(f"{prefix}old", " version"), (f"{prefix}new", " next version")]
        return update(table).where(and_(*where)).values(values), params

    async def write(self, session: AsyncSession, objects: list[Any], size: int) -> Written:
        """Check the rows, UPDATE them in batches of ``size``, read back what the
        database set; raise :class:`StaleObjectError` before writing if a row is stale."""
        written = Written(objects, self.names)
        mapper: Mapper[Any] = inspect(self.model)
        dialect = session.get_bind(mapper=mapper).dialect
        # A row without a version is stale only when it is gone: where the driver counts
        # an executemany's rows, the UPDATEs' own count finds it (the call's scope then
        # undoes what they wrote). A versioned row, or any row on asyncpg, which does not
        # count them, is checked first by a locking read, which also names the stale rows.
        sane = dialect.supports_sane_multi_rowcount
        counted = sane and self.version_key is None
        versions = self._versions(objects) if counted else await self._check(session, objects)
        for batch in batches(objects, size):
            for statement, params in self.statements:
                rows = [self._row(obj, params, versions) for obj in batch]
                result: Any = await session.execute(statement, rows)
                if (sane or len(rows) == 1) and result.rowcount != len(rows):
                    missed = len(rows) - result.rowcount
                    raise await self._stale_after(session, batch, versions, missed)
        if self.version_key is not None:
            for obj in objects:
                key = instance_state(obj).key
                written.stored.setdefault(key, {})[self.version_key] = versions[key][1]
        if self.refreshed:
            await self._read_back(session, objects, written)
        return written

    def _row(self, obj: Any, params: list[tuple[str, str]], versions: dict[Any, Any]) -> Any:
        state: InstanceState[Any] = instance_state(obj)
        values = state.dict
        row = {}
        for param, name in params:
            if name == " version":
                row[param] = versions[state.key][0]
            elif name == " next version":
                row[param] = versions[state.key][1]
            else:
                row[param] = values[name]
        return row

    def _loaded_versions(self, objects: list[Any]) -> dict[Any, Any]:
        """Each object's identity and the version it was loaded at (``None``: no version)."""
        wanted: dict[Any, Any] = {}
        for obj in objects:
            state: InstanceState[Any] = instance_state(obj)
            version = None
            if self.version_key is not None:
                version = state.attrs[self.version_key].loaded_value
            wanted[state.key] = version
        return wanted

    def _versions(self, objects: list[Any]) -> dict[Any, Any]:
        """Each identity's (version, next version), when the model has a version."""
        generator = inspect(self.model).version_id_generator
        if self.version_key is None or not callable(generator):
            return {}
        wanted = self._loaded_versions(objects)
        return {key: (version, generator(version)) for key, version in wanted.items()}

    async def _stored(
        self, session: AsyncSession, identities: list[Any], *, lock: bool
    ) -> dict[Any, Any]:
        """The stored version (``None`` without one) of each of these rows that exists."""
        model = self.model
        keys = [getattr(model, name) for name in self.key_names]
        columns = [*keys, *([getattr(model, self.version_key)] if self.version_key else [])]
        dialect = session.get_bind(mapper=inspect(model)).dialect
        size = keys_per_statement(dialect, len(keys), used=_SPARE_PARAMETERS)
        found: dict[Any, Any] = {}
        for batch in batches(identities, size):
            plain = [key[1] if len(keys) > 1 else key[1][0] for key in batch]
            statement = select(*columns).where(key_condition(keys, plain))
            if lock:
                statement = statement.with_for_update()
            for row in (await session.execute(statement)).all():
                found[tuple(row[: len(keys)])] = row[len(keys)] if self.version_key else None
        return found

    async def _check(self, session: AsyncSession, objects: list[Any]) -> dict[Any, Any]:
        """Lock the rows and check that each is there (at the object's version); returns
        each identity's (version, next version) when the model has one."""
        wanted = self._loaded_versions(objects)
        found = await self._stored(session, list(wanted), lock=True)
        stale = [
            key
            for key, version in wanted.items()
            if key[1] not in found or (self.version_key is not None and found[key[1]] != version)
        ]
        if stale:
            raise _stale(self.model, len(stale), _named(self.model, stale))
        return self._versions(objects)

    async def _stale_after(
        self, session: AsyncSession, batch: Sequence[Any], versions: dict[Any, Any], missed: int
    ) -> StaleObjectError:
        """The error for UPDATEs that matched ``missed`` rows fewer than they were sent:
        it names the rows now missing, or at a version this call did not write."""
        identities: list[Any] = [instance_state(obj).key for obj in batch]
        found = await self._stored(session, identities, lock=False)
        stale = [
            key
            for key in identities
            if key[1] not in found
            or (self.version_key is not None and found[key[1]] != versions[key][1])
        ]
        return _stale(self.model, missed, _named(self.model, stale) if stale else "")

    async def _read_back(self, session: AsyncSession, objects: list[Any], into: Written) -> None:
        model = self.model
        keys = [getattr(model, name) for name in self.key_names]
        columns = [getattr(model, name) for name in self.refreshed]
        dialect = session.get_bind(mapper=inspect(model)).dialect
        size = keys_per_statement(dialect, len(keys), used=_SPARE_PARAMETERS)
        identities: list[Any] = [instance_state(obj).key for obj in objects]
        by_identity = {key[1]: key for key in identities}
        for batch in batches(identities, size):
            plain = [key[1] if len(keys) > 1 else key[1][0] for key in batch]
            statement = select(*keys, *columns).where(key_condition(keys, plain))
            for row in (await session.execute(statement)).all():
                identity = by_identity[tuple(row[: len(keys)])]
                stored = into.stored.setdefault(identity, {})
                stored.update(zip(self.refreshed, row[len(keys) :], strict=True))


def describe_key(model: type[Any], key: Any) -> str:
    """``id=3`` for the identity key of a row of ``model``.

    Example:
        >>> describe_key(User, (User, (3,), None))
        'id=3'
    """
    names = model_info(model).primary_key_names
    return ", ".join(f"{name}={value!r}" for name, value in zip(names, key[1], strict=False))


def _named(model: type[Any], stale: list[Any]) -> str:
    shown = "; ".join(describe_key(model, key) for key in stale[:5])
    more = f"; and {len(stale) - 5} more" if len(stale) > 5 else ""
    return f" ({shown}{more})"


def _stale(model: type[Any], count: int, which: str) -> StaleObjectError:
    rows = "row was" if count == 1 else "rows were"
    return StaleObjectError(
        f"{count} {model.__name__} {rows} changed or deleted by someone else since the "
        f"objects were loaded{which}; bulk_update() wrote nothing. Load them again, "
        "re-apply the changes and call bulk_update() again."
    )
