"""Composition root of the goals service (``uvicorn services.goals.app:create``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.goals import endpoints
from services.goals.consumers import subscriptions
from services.goals.events import people
from services.goals.models import Base, InboxEvent, OutboxEvent
from shared.people import people_router
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

DEFINITION = ServiceDefinition(
    name="goals",
    title="Meritloop goals",
    description="Aligned SMART goals, key results, progress, bulk assignment and goal scores for review cycles.",
    routers=(endpoints.router, endpoints.cycles_router, people_router(people)),
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    subscriptions=subscriptions,
)
metadata = Base.metadata


def create(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
