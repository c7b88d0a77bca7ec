"""Helpers of the review-configuration API tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reviews.models import OutboxEvent
from tests.reviews_config.builders import scale_body
from tests.support.http import assert_problem


def sessionmaker_of(client: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    return maker


async def events(client: httpx.AsyncClient, subject: str) -> list[dict[str, Any]]:
    """``data`` of the outbox events with this subject, oldest first (sent or not)."""
    async with sessionmaker_of(client)() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.subject == subject).order_by(OutboxEvent.created_at)
        )
        return [json.loads(row.payload)["data"] for row in rows]


async def create_scale(
    client: httpx.AsyncClient, headers: dict[str, str], values: tuple[float, ...] = (1, 2, 3, 4, 5), name: str = "Five"
) -> dict[str, Any]:
    response = await client.post("/rating-scales", json=scale_body(name, values), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def errors_by_field(response: httpx.Response) -> dict[str, str]:
    return {error["field"]: error["message"] for error in assert_problem(response, 422)["errors"]}
