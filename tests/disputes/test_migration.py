"""Reviews migration 0014: the dispute sweep's two marks and its index, added and removed again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from shared.database import create_engine
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import ServiceName

pytestmark = pytest.mark.database


def _shape(sync: Connection) -> tuple[set[str], set[str]]:
    found = inspect(sync)
    columns = {column["name"] for column in found.get_columns("rating_disputes")}
    indexes = {str(index["name"]) for index in found.get_indexes("rating_disputes")}
    return columns, indexes


async def test_0014_adds_the_marks_and_its_downgrade_removes_them(database_urls: dict[ServiceName, str]) -> None:
    url = database_urls["reviews"]
    engine = create_engine(url)
    try:
        await upgrade_async("reviews", url, "0013")
        async with engine.connect() as connection:
            columns, indexes = await connection.run_sync(_shape)
        assert not {"reminded_at", "escalated_at"} & columns
        await upgrade_async("reviews", url, "0014")
        async with engine.connect() as connection:
            columns, indexes = await connection.run_sync(_shape)
        assert {"reminded_at", "escalated_at", "resolved_at"} <= columns
        assert "ix_rating_disputes_status_due_at" in indexes
        await downgrade_async("reviews", url, "0013")
        async with engine.connect() as connection:
            columns, indexes = await connection.run_sync(_shape)
        assert not {"reminded_at", "escalated_at"} & columns
        assert "ix_rating_disputes_status_due_at" not in indexes
        assert "resolved_at" in columns
    finally:
        await engine.dispose()
