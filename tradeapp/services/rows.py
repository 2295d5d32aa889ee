"""Row helpers: locking a row by id, dialect upserts, and inserting new rows on the hot money paths.

A flush of a few new objects issues one ``INSERT … RETURNING id`` but spends far more time in
the unit of work than in the statement. :func:`insert_all` issues that statement itself and
then attaches the objects to the session as persistent, as if they had just been loaded, so
callers keep working with ordinary model instances (lazy loads, later changes, refresh).
"""

import functools
from collections.abc import Sequence

from sqlalchemy import inspect, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from tradeapp.extensions import db


def lock(model, ident: int):
    """``SELECT … FOR UPDATE`` the row ``ident`` of ``model``, fresh from the database; None when there is none."""
    return db.session.scalar(
        select(model)
        .where(inspect(model).primary_key[0] == ident)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def upsert_insert(model):
    """The dialect's INSERT for ``model``, which offers ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    return (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(model)


@functools.cache
def _plan(model) -> tuple:
    """The INSERT … RETURNING id of ``model`` (built once), its id attribute and (attribute, column) keys."""
    mapper = inspect(model)
    (pk,) = mapper.primary_key
    columns = [(prop.key, prop.columns[0].key) for prop in mapper.column_attrs if prop.columns[0] is not pk]
    statement = mapper.local_table.insert().returning(pk, sort_by_parameter_order=True)
    return statement, mapper.get_property_by_column(pk).key, columns


#: from this many rows up, PostgreSQL takes the new ids from the table's sequence first and inserts the rows
#: as one executemany: a short statement psycopg parses once and prepares, where one INSERT of all the
#: rows' VALUES has thousands of bind parameters that psycopg parses again on every call (a copy batch's orders)
BULK_ROWS = 20
_SEQUENCES: dict[str, str] = {}
_RESERVE = text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :count)")


def insert_rows(table, rows: list[dict]) -> list[int]:
    """INSERT ``rows`` (dicts with the same keys) into ``table``; their new ids, in the rows' order."""
    if not rows:
        return []
    session = db.session()
    (pk,) = table.primary_key.columns
    if len(rows) >= BULK_ROWS and session.get_bind().dialect.name == "postgresql":
        if table.name not in _SEQUENCES:
            _SEQUENCES[table.name] = session.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": pk.name}
            )
        ids = sorted(session.scalars(_RESERVE, {"sequence": _SEQUENCES[table.name], "count": len(rows)}))
        session.execute(table.insert(), [{**row, pk.key: ident} for row, ident in zip(rows, ids, strict=True)])
        return ids
    statement = table.insert().returning(pk, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


def insert_all(objects: Sequence) -> None:
    """INSERT new (transient) instances of one model in one statement; they become persistent.

    Give every object the same set of column attributes. Columns left unset get their column
    defaults in the database row and are loaded on first access; relationships set on the
    objects (many-to-one, with their foreign key columns set too) are kept as loaded.
    """
    if not objects:
        return
    statement, pk_key, columns = _plan(type(objects[0]))
    rows = []
    for obj in objects:
        values = obj.__dict__
        rows.append({column: values[key] for key, column in columns if key in values})
    session = db.session()
    session.flush()  # rows these reference may still be pending in the session
    bulk = len(rows) >= BULK_ROWS
    ids = insert_rows(statement.table, rows) if bulk else session.execute(statement, rows).scalars()
    for obj, ident in zip(objects, ids, strict=True):
        attach(obj, **{pk_key: ident})


def attach(obj, **written) -> None:
    """Make the new instance ``obj``, whose row a statement just inserted, persistent in the session,
    with ``written`` (its id and any column the database filled in) as loaded values."""
    for key, value in written.items():
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    db.session.add(obj)


@functools.cache
def _bind_plan(model, dialect) -> list[tuple[str, str, object]]:
    """(attribute, column, the dialect's bind processor) of ``model``'s columns but its primary key."""
    mapper = inspect(model)
    (pk,) = mapper.primary_key
    return [
        (prop.key, prop.columns[0].key, prop.columns[0].type._cached_bind_processor(dialect))
        for prop in mapper.column_attrs
        if prop.columns[0] is not pk
    ]


def bound_values(obj, dialect) -> tuple[list, list[str]]:
    """The values set on the new instance ``obj`` (as the driver takes them) and their columns, for
    statements written for the driver (``exec_driver_sql``); columns left unset are left out."""
    values, columns = [], []
    state = obj.__dict__
    for key, column, process in _bind_plan(type(obj), dialect):
        if key in state:
            value = state[key]
            values.append(process(value) if process is not None and value is not None else value)
            columns.append(column)
    return values, columns


def commit_keeping(keep) -> None:
    """Commit, leaving ``keep`` loaded and expiring everything else as a commit normally does.

    The values of ``keep`` are those this transaction wrote (rows under its locks, rows it
    inserted), so reading them back after the commit would only cost queries: the answer, the
    log line and the Socket.IO events use them as they are.
    """
    session = db.session()
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire_on_commit
    if expire_on_commit:
        kept = {id(obj) for obj in keep}
        for obj in list(session.identity_map.values()):
            if id(obj) not in kept:
                session.expire(obj)
