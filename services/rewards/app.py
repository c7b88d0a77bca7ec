"""Composition root of the rewards service (``uvicorn services.rewards.app:create``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.rewards import endpoints
from services.rewards.activities import serve_activities
from services.rewards.calibration_impact.endpoints import router as calibration_impact
from services.rewards.consumers import subscriptions
from services.rewards.events import people
from services.rewards.models import Base, InboxEvent, OutboxEvent
from shared.people import people_router
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

DEFINITION = ServiceDefinition(
    name="rewards",
    title="Meritloop rewards",
    description="Pay bands, compensation planning and rewards.",
    routers=(endpoints.router, calibration_impact, people_router(people)),
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    subscriptions=subscriptions,
    activities=serve_activities,
)
metadata = Base.metadata


def create(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
