"""``insert_new``: the consumer's inbox claim, one statement on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import Table, func, select

from services.goals.models import InboxEvent
from shared.database import create_engine, create_sessionmaker, insert_new, utcnow
from shared.migrations import upgrade_async
from shared.settings import ServiceName

COLUMNS = ("consumer", "event_id", "event_type", "processed_at")
TABLE = cast(Table, InboxEvent.__table__)


async def test_writes_only_new_keys_and_returns_them(database_urls: dict[ServiceName, str]) -> None:
    await upgrade_async("goals", database_urls["goals"])
    engine = create_engine(database_urls["goals"])
    sessionmaker = create_sessionmaker(engine)
    try:
        now = utcnow()
        stored, fresh, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        async with sessionmaker() as session, session.begin():
            assert await insert_new(session, TABLE, COLUMNS, [("c", stored, "t", now)], "event_id") == [stored]
        rows = [
            ("c", stored, "t", now),  # stored before: skipped
            ("c", fresh, "t", now),
            ("c", fresh, "t", now),  # repeated within the call: skipped
            ("other", stored, "t", now),  # the key is (consumer, event_id): new for another consumer
        ]
        async with sessionmaker() as session, session.begin():
            written = await insert_new(session, TABLE, COLUMNS, rows, "event_id")
        assert sorted(written) == sorted([fresh, stored])
        assert all(isinstance(value, uuid.UUID) for value in written)
        # Rolled back with the transaction that wrote it: claimed again afterwards.
        async with sessionmaker() as session:
            await session.begin()
            assert await insert_new(session, TABLE, COLUMNS, [("c", other, "t", now)], "event_id") == [other]
            await session.rollback()  # what a failing handler's transaction does
        async with sessionmaker() as session, session.begin():
            assert await insert_new(session, TABLE, COLUMNS, [("c", other, "t", now)], "event_id") == [other]
            assert await insert_new(session, TABLE, COLUMNS, [], "event_id") == []
        async with sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(TABLE)) == 4
            stamps = list(await session.scalars(select(InboxEvent.processed_at)))
        assert all(stamp.tzinfo is not None for stamp in stamps)
    finally:
        await engine.dispose()
