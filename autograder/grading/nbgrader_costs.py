"""What stock nbgrader pays again and again while recording a class, which a grading process pays once.

``reduce_nbgrader_costs()`` applies all three to this process. The first is the
commits: each waited for the disk (``gradebook_commits_without_fsync``). The
other two: recording a class opens nbgrader's ``Gradebook`` about sixteen times per
submission (each of its preprocessors opens its own), and checks every cell's
nbgrader metadata against nbgrader's JSON schema twice per submission. Both are
cheap once and slow when repeated:

- each ``Gradebook`` makes a new SQLAlchemy engine, so every statement is
  compiled anew (SQLAlchemy caches compiled statements per engine): a fifth of
  the main process's time. Here the gradebooks of one process share one engine
  per database URL, with its compiled-statement cache; each still has its own
  session, and ``close()`` still returns its connections to the pool.
- ``jsonschema.validate(instance, schema)`` checks the schema itself before
  checking the instance, on every cell. Here the schema is checked once and its
  validator kept; an invalid cell raises the same ``ValidationError`` as before
  (``jsonschema.exceptions.best_match``, as ``jsonschema.validate`` does).

Nothing else changes: the same queries, the same writes, the same errors.
"""

from __future__ import annotations

import json
import sqlite3
import threading


def reduce_nbgrader_costs() -> None:
    """Apply every change of this module to this process; applying them again changes nothing."""
    gradebook_commits_without_fsync()
    share_gradebook_engines()
    check_metadata_schema_once()


def gradebook_commits_without_fsync() -> None:
    """Let this process's commits to nbgrader's SQLite gradebook return without waiting for the disk.

    Recording a class commits once per grade cell (stock nbgrader does the same),
    and each commit waited for an fsync: about 3 ms, a tenth of the time the
    grader spends on a student. In write-ahead-log mode with ``synchronous=NORMAL``
    a commit survives the grader being killed (``kill -9``, a crash), which is what
    resuming relies on; only a power cut can lose the last commits, never corrupt
    the file (https://www.sqlite.org/wal.html). The log mode stays with the file;
    nbgrader's own commands read and write it as before.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if event.contains(Engine, "connect", _write_ahead):
        return
    event.listen(Engine, "connect", _write_ahead)


def _write_ahead(connection, _record) -> None:
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def share_gradebook_engines() -> None:
    """Make every ``nbgrader.api.Gradebook`` of this process share one engine per database URL."""
    import nbgrader.api

    if getattr(nbgrader.api.create_engine, "shares_engines", False):
        return
    nbgrader.api.create_engine = _shared_engine_factory(nbgrader.api.create_engine)


def _shared_engine_factory(create_engine):
    engines: dict[tuple, object] = {}
    lock = threading.Lock()

    def shared_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        with lock:
            if key not in engines:
                engines[key] = create_engine(url, **options)
            return engines[key]

    shared_engine.shares_engines = True
    return shared_engine


def check_metadata_schema_once() -> None:
    """Make nbgrader's metadata validation check its JSON schema once, not once per cell."""
    from nbgrader.nbgraderformat import common

    if isinstance(common.jsonschema, _SchemaOnce):
        return
    common.jsonschema = _SchemaOnce(common.jsonschema)


class _SchemaOnce:
    """The ``jsonschema`` module as nbgrader's metadata validator uses it, with validators kept per schema."""

    def __init__(self, jsonschema):
        self._jsonschema = jsonschema
        self._validators: dict[str, object] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:  # a use this class does not know: jsonschema's own
            return self._jsonschema.validate(instance, schema, *args, **kwargs)
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                kind = self._jsonschema.validators.validator_for(schema)
                kind.check_schema(schema)  # raises SchemaError, as jsonschema.validate does
                validator = self._validators[key] = kind(schema)
        error = self._jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
