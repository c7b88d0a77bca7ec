"""SQLAlchemy 2.0 async plumbing: model base, engines and the per-request transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, Table, event, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

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


def _convert(processor: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    """``processor`` over a column, each distinct value once when values repeat.

    A batch's timestamps, dates and foreign keys are mostly the same few values, and the
    SQLite processors format a date or datetime in Python.
    """
    try:
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
