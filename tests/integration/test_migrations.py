"""Each service's migrations build exactly the schema its models describe, and undo cleanly."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from shared.database import create_engine
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import SERVICES, ServiceName

pytestmark = pytest.mark.database


def _metadata(service: ServiceName) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{service}.models").Base.metadata
    return metadata


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_models(service: ServiceName, database_urls: dict[ServiceName, str]) -> None:
    url = database_urls[service]
    await upgrade_async(service, url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def diff(sync_connection: Connection) -> list[object]:
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return list(compare_metadata(context, _metadata(service)))

            assert await connection.run_sync(diff) == [], "run alembic revision --autogenerate"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_downgrade_to_nothing(service: ServiceName, database_urls: dict[ServiceName, str]) -> None:
    url = database_urls[service]
    await upgrade_async(service, url)
    await downgrade_async(service, url, "base")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
    finally:
        await engine.dispose()
