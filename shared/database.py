"""SQLAlchemy 2.0 async plumbing: model base, engines and the per-request transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, Table, event, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from shared.errors import Conflict

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def new_metadata() -> MetaData:
    """Each service owns its own metadata, so its migrations see only its own tables."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), onupdate=utcnow, nullable=True)


class RecordMixin(TimestampMixin):
    """UUID primary key and timestamps: the shape of every business table."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL with synchronous=NORMAL doubles the write rate (see PLATFORM-LIMITS.md) and
    # lets readers run beside the single writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def owner_only_directory(path: Path) -> None:
    """Create ``path`` if needed and let only its owner in (0700): it holds salaries and feedback."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def owner_only_sqlite(url: str) -> None:
    """Make the SQLite file of ``url`` (and its WAL and shared-memory files) readable by its owner only.

    SQLite creates the file with the process umask (usually world-readable); created here
    first with 0600, it is never readable by anyone else, and SQLite gives the -wal and -shm
    files the database file's permissions. A folder created here is 0700.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        owner_only_directory(path.parent)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # hide_parameters: a failed statement's error (logged, or put in dead-letter headers)
    # must not carry the values it bound, which can be salaries or feedback text.
    if is_sqlite(url):
        owner_only_sqlite(url)
        engine = create_async_engine(url, echo=echo, hide_parameters=True)
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # A Session subclass of its own lets listeners (the outbox relay's wake-up) attach to
    # this sessionmaker only, not to every session in the process.
    session_class = type("ServiceSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=session_class)


async def insert_many(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """One INSERT executed for many rows given as tuples in ``columns`` order, in the session's transaction.

    What ``session.execute(insert(table), dicts)`` does, minus its per-row work: SQLAlchemy
    builds a parameter dict and calls each column's bind processor row by row, which cost
    more than the database's own insert for the importer's 100,000 rows. Here each
    column's processor maps over the column at once and the driver gets plain tuples.
    Columns left out get no Python-side default: give every column the rows need.
    """
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = compiled.positiontup if compiled.positional else None
    if order is None or sorted(order) != sorted(columns):
        # A named paramstyle, or defaults SQLAlchemy must compute: the ordinary path.
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    position = {name: index for index, name in enumerate(columns)}
    values = []
    for name in order:
        column = [row[position[name]] for row in rows]
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values.append(column if processor is None else _convert(processor, column))
    await connection.exec_driver_sql(compiled.string, list(zip(*values, strict=True)))


async def insert_new(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], returning: str
) -> list[Any]:
    """Insert the rows whose key is not in ``table`` yet, in one statement; the ``returning`` values of those written.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: one statement where a SELECT of the
    keys already there and an INSERT of the others took two (SQLite 3.35+ and PostgreSQL).
    A row whose key repeats an earlier row of ``rows`` is skipped like one already stored.
    """
    if not rows:
        return []
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name == "sqlite":
        return await _insert_new_sqlite(connection, table, columns, rows, returning)
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # pragma: no cover - the project runs on these two
        raise NotImplementedError(f"insert_new on {dialect.name}")
    statement = dialect_insert(table).on_conflict_do_nothing().returning(table.c[returning])
    # Executemany with RETURNING: SQLAlchemy's "insertmanyvalues" sends multi-row VALUES
    # batches of the one cached statement and gathers what each returned.
    result = await connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])
    return list(result.scalars())


# Bound values per SQLite statement: well under SQLITE_MAX_VARIABLE_NUMBER (32766 since 3.32).
_SQLITE_VARIABLES = 30_000


async def _insert_new_sqlite(
    connection: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], returning: str
) -> list[Any]:
    # Straight to aiosqlite, in the session's transaction (same DBAPI connection): through
    # SQLAlchemy's adapter a statement costs four hops to aiosqlite's thread (cursor,
    # execute, fetchall, close), each waiting for the GIL and a CPU; execute_fetchall is one.
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in columns)
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    target, key = preparer.format_table(table), preparer.quote(returning)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    values = [
        [row[index] for row in rows] if processor is None else _convert(processor, [row[index] for row in rows])
        for index, processor in enumerate(processors)
    ]
    parameters = list(zip(*values, strict=True))
    result_processor = table.c[returning].type.dialect_impl(dialect).result_processor(dialect, None)
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    written: list[Any] = []
    size = max(1, _SQLITE_VARIABLES // len(columns))
    for start in range(0, len(parameters), size):
        chunk = parameters[start : start + size]
        rows_sql = ", ".join([placeholders] * len(chunk))
        # Identifiers come from the table's metadata, quoted by the dialect; every value is bound.
        sql = f"INSERT INTO {target} ({names}) VALUES {rows_sql} ON CONFLICT DO NOTHING RETURNING {key}"  # noqa: S608
        flat = [value for row in chunk for value in row]
        for (value,) in await driver.execute_fetchall(sql, flat):
            written.append(value if result_processor is None else result_processor(value))
    return written


_CONVERT_SAMPLE = 1000


def _convert(processor: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    """``processor`` over a column, each distinct value once when values repeat.

    A batch's timestamps, dates and foreign keys are mostly the same few values, and the
    SQLite processors format a date or datetime in Python.
    """
    # Mostly distinct values (ids, names): hashing them all first would only add work. The
    # first values tell; mapping the processor over every value is right whatever they are.
    sample = column[:_CONVERT_SAMPLE]
    try:
        if len(set(sample)) * 2 > len(sample):
            return list(map(processor, column))
        distinct = set(column)
    except TypeError:  # unhashable values
        return list(map(processor, column))
    # Equal values of different types (1, 1.0, True) could convert differently: one type only.
    if len(distinct) * 2 > len(column) or len({type(value) for value in distinct}) > 1:
        return list(map(processor, column))
    converted = {value: processor(value) for value in distinct}
    return [converted[value] for value in column]


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the handler returns, roll back if it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function" commits before the response is sent, so a failed commit becomes an
# error response instead of a 200 for data that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


_Row = TypeVar("_Row")


def dialect_insert(session: AsyncSession, target: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the session's database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)


async def add_unique(session: AsyncSession, row: _Row, conflict: str) -> _Row:
    """Insert or change ``row`` in a savepoint: a unique index lost to a racing request is a 409 (``conflict``
    says why) instead of a failed commit.

    A new row is written inside the savepoint, so the request's session stays usable after the
    409. A change to a row the session already holds is flushed as the savepoint opens, outside
    it: still a 409, but on PostgreSQL the transaction is then spent (the request ends there)."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(conflict) from exc
    return row
