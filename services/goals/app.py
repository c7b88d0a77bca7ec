"""Composition root of the goals service (``uvicorn services.goals.app:create``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.goals import draft_sources, endpoints
from services.goals.consumers import subscriptions
from services.goals.events import people
from services.goals.models import Base, InboxEvent, OutboxEvent
from shared.attestation import signing_key
from shared.people import people_router
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings, get_settings

DEFINITION = ServiceDefinition(
    name="goals",
    title="Meritloop goals",
    description="Aligned SMART goals, key results, progress, bulk assignment and goal scores for review cycles.",
    # Before endpoints.router: /goals/{goal_id} would take /goals/draft-sources for a goal id.
    routers=(draft_sources.router, endpoints.router, endpoints.cycles_router, people_router(people)),
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    subscriptions=subscriptions,
)
metadata = Base.metadata


def create(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Refused at start in production with the development key, like a database URL left unset.
    key = signing_key(settings, draft_sources.ISSUER)
    app = create_app(DEFINITION, settings)
    app.state.source_signing_key = key
    return app
