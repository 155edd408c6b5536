"""The deliberate differences between sqlrecord and the plain ORM, each with why a user
is better off. A comparison that is expected to differ names one of these ids;
``docs/differences.md`` lists the same ids (a test checks that)."""

from __future__ import annotations

DIFFERENCES: dict[str, str] = {
    "typed-errors": (
        "A failed call raises a typed error from sqlrecord.exceptions (DuplicateKeyError, "
        "NotFoundError, StaleObjectError, ...) instead of the raw SQLAlchemy or driver error, "
        "so a caller catches one class on every database."
    ),
    "served-savepoint": (
        "A write in a served session runs in a SAVEPOINT, so a failed write is undone alone "
        "and the caller's unit of work stays usable, where the ORM needs a rollback of the "
        "whole session and loses the work done before it."
    ),
    "failed-write-restores": (
        "A failed write puts the object back as it was before the call (values and session "
        "membership), where the ORM's rollback expires it and an async caller can no longer "
        "read its attributes."
    ),
    "sqlite-begin-immediate": (
        "On SQLite db.transaction() and a write in sqlrecord's own session take the write "
        "lock when they start (BEGIN IMMEDIATE), before their first statement, where the "
        "ORM begins lazily: "
        "concurrent writers then wait their turn instead of failing with 'database is locked'."
    ),
    "save-merges-back": (
        "save() of an object loaded elsewhere into a session that already holds its row "
        "merges it, as session.merge() does, and then copies the stored values (version, "
        "onupdate columns, values set by hooks) back onto the caller's object, so the "
        "object you saved shows what was written; merge() leaves it as it was."
    ),
    "upsert-one-statement": (
        "upsert() is SQLAlchemy's ORM upsert, one INSERT ... ON CONFLICT statement per batch, "
        "so it is atomic under concurrency where a load-then-write would race; like any "
        "statement it runs no flush and no mapper hook (before_insert and the like), and "
        "validators run once per given value, whether the row turns out new or existing."
    ),
    "replica-reads": (
        "With Database(replicas=...), a read in a session of sqlrecord's own may be served by "
        "a replica: it sees everything the caller's context (task, request, token) wrote, "
        "but another process's write may reach it up to max_lag seconds late, where a read "
        "of the primary sees it at once. db.primary() restores the ORM's view for a block."
    ),
    "bulk-update-refreshes": (
        "bulk_update() leaves its objects showing what was written: the next version, and "
        "the columns an onupdate or the database set (updated_at), read back after the "
        "UPDATE. The ORM's bulk UPDATE by primary key leaves them as they were loaded, so "
        "a later save() of a versioned object would fail as stale."
    ),
    "bulk-update-checks-rows": (
        "bulk_update() checks every row (a locking read of the keys and versions before "
        "writing, for a versioned model and on asyncpg; else the UPDATE's own row count, "
        "undone on a miss), so a row deleted or changed meanwhile raises StaleObjectError "
        "and nothing is written, on every driver. The ORM's bulk UPDATE by primary key "
        "counts the rows after writing, and only where the driver counts an executemany's "
        "rows: on asyncpg a vanished row goes unnoticed."
    ),
    "autocommit-cancel": (
        "An own session's one-statement call runs in autocommit; on MySQL/MariaDB a call "
        "cancelled after its statement was sent may still take effect (the drivers only close "
        "the connection), where the ORM's transaction would be rolled back: one round trip "
        "instead of three for every single-row write, and a cancelled write's outcome is "
        "uncertain with the ORM too (a cancel after the COMMIT was sent)."
    ),
}
