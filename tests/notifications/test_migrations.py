"""The notifications database's migrations build exactly its models' schema, and undo cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from notifications.database import downgrade_async, upgrade_async
from notifications.models import Base
from shared.database import create_engine

pytestmark = pytest.mark.database


async def test_migrations_match_the_models_and_downgrade(notifications_database_url: str) -> None:
    url = notifications_database_url
    await upgrade_async(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def diff(sync_connection: Connection) -> list[object]:
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            assert await connection.run_sync(diff) == [], "run alembic revision --autogenerate"
        await downgrade_async(url, "base")
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
    finally:
        await engine.dispose()
