"""Composition root of the reviews service (``uvicorn services.reviews.app:create``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.reviews import endpoints
from services.reviews.consumers import subscriptions
from services.reviews.cycles.activities import serve_activities
from services.reviews.cycles.dispute_sweep import dispute_sweep_router
from services.reviews.drafts.endpoints import router as drafts_router
from services.reviews.models import Base, InboxEvent, OutboxEvent
from shared.attestation import verify_keys
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings, get_settings

DEFINITION = ServiceDefinition(
    name="reviews",
    title="Meritloop reviews",
    description="People directory, review cycles, task inbox and calibration.",
    routers=(endpoints.router, drafts_router, dispute_sweep_router),
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    subscriptions=subscriptions,
    activities=serve_activities,
)
metadata = Base.metadata


def create(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Refused at start in production without the issuers' public keys, like a database URL left unset.
    keys = verify_keys(settings)
    app = create_app(DEFINITION, settings)
    app.state.source_verify_keys = keys
    return app
